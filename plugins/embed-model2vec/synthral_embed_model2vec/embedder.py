"""The ``model2vec`` embedder: a static model, loaded once per process and model folder."""

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
    from model2vec import StaticModel

__all__ = ["BUNDLED_MODEL", "Model2VecConfig", "Model2VecEmbedder"]

# Model folders are local; the library must never reach for the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BUNDLED_MODEL = Path(__file__).resolve().parent / "model"
"""all-MiniLM-L6-v2 distilled to 256 dimensions when the plugin was built."""

BUNDLED_ID = "model2vec/all-MiniLM-L6-v2-256"


class Model2VecConfig(BaseModel):
    """Which static model to use."""

    model_config = ConfigDict(extra="forbid")

    model_path: str | None = Field(
        default=None,
        description=(
            "A Model2Vec model folder (config.json, model.safetensors, tokenizer.json). "
            "Empty: the MiniLM distilled when the plugin was built."
        ),
    )
    max_length: int = Field(default=512, ge=1, le=100_000, description="Tokens read per text; the rest is ignored.")


class _Loaded:
    def __init__(self, model: StaticModel, model_id: str) -> None:
        self.model = model
        self.model_id = model_id


_models: dict[str, _Loaded] = {}
_lock = threading.Lock()


def _model_id(folder: Path) -> str:
    if folder == BUNDLED_MODEL:
        return BUNDLED_ID
    digest = hashlib.sha256()
    with (folder / "model.safetensors").open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"model2vec/{folder.name}@{digest.hexdigest()[:12]}"


def load(model_path: str | None) -> _Loaded:
    """The model in ``model_path`` (the bundled one when ``None``), loaded once per process."""
    folder = Path(model_path).expanduser().resolve() if model_path else BUNDLED_MODEL
    key = str(folder)
    with _lock:
        loaded = _models.get(key)
        if loaded is not None:
            return loaded
        if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
            if folder == BUNDLED_MODEL:
                raise ConfigInvalid(
                    "the bundled Model2Vec model is missing: the plugin was installed without running its "
                    "build hook; reinstall it from its folder or wheel, or set 'model_path' to a model folder",
                    details={"field": "model_path"},
                )
            raise ConfigInvalid(
                f"config field 'model_path': {folder} is not a Model2Vec model folder (it needs "
                "model.safetensors and tokenizer.json); make one with "
                "'python -m synthral_embed_model2vec.distill --source YOUR_MODEL --out FOLDER'",
                details={"field": "model_path", "path": key},
            )
        from model2vec import StaticModel  # noqa: PLC0415 -- numpy and tokenizers load on first use

        model = StaticModel.from_pretrained(folder, normalize=True, force_download=False)
        loaded = _models[key] = _Loaded(model, _model_id(folder))
        return loaded


class Model2VecEmbedder(Embedder[Model2VecConfig]):
    """Static embeddings: a token table lookup and a mean, thousands of texts a second on a CPU."""

    name = "model2vec"
    title = "Model2Vec static embeddings"

    def embed(self, request: EmbedRequest, config: Model2VecConfig, context: Context) -> EmbedResult:
        """Embed the texts with the configured model (queries and documents alike)."""
        loaded = load(config.model_path)
        context.check()
        vectors = loaded.model.encode(
            request.texts, max_length=config.max_length, use_multiprocessing=False, batch_size=1024
        )
        return EmbedResult(
            model=loaded.model_id,
            dimensions=int(vectors.shape[1]),
            vectors=vectors.astype("float32").tolist(),
        )
