"""Whether torchvision's compiled operators load with the installed torch, for engines on PyTorch.

The SDK does not depend on either. A torchvision build matches one torch build: the one for
CUDA torch needs CUDA libraries that a CPU torch lacks, and importing it then fails with
"operator torchvision::nms does not exist", which says nothing of the cause or the fix.
"""

from __future__ import annotations

import functools
import importlib.util
from importlib.metadata import version
from pathlib import Path

__all__ = ["torchvision_mismatch"]

_LIBRARY_SUFFIXES = frozenset({".so", ".pyd"})


@functools.cache
def torchvision_mismatch() -> str | None:
    """Why torchvision's compiled operators do not load with the installed torch, or ``None``.

    Call it before importing torchvision or a library that imports it (docTR, EasyOCR,
    ultralytics) and raise :class:`~synthral_sdk.errors.PluginLoadError` with the message: it
    names both versions, the library that fails and what it lacks, and the fix. The answer is
    computed once per process; torchvision itself is not imported.

    Returns:
        The message, or ``None`` when the operators load or torchvision is not installed
        (importing it then says so itself).

    .. versionadded:: 1.10
    """
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return None
    import torch  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415 - in the engines' venvs only

    for library in sorted(Path(spec.origin).parent.glob("_C.*")):
        if library.suffix not in _LIBRARY_SUFFIXES:
            continue
        try:
            torch.ops.load_library(library)  # what importing torchvision does, minus its later failure
        except OSError as exc:
            cause = str(exc.__cause__ or exc).removeprefix(f"{library}: ")
            missing, cannot_open, _ = cause.partition(": cannot open shared object file")
            return (
                f"torchvision {version('torchvision')}'s compiled operators do not load with torch "
                f"{torch.__version__} (torchvision/{library.name} {f'needs {missing}' if cannot_open else cause}): "
                "install the torchvision built for the same torch, e.g. from PyTorch's CPU package index, "
                "into the plugin's venv"
            )
    return None
