"""A YOLOv8 element detector built from ultralytics' own architecture file, untrained, saved as OmniParser's.

Building it needs torchvision's compiled operators; the tests that do are marked ``needs_models``
and skipped, naming the reason, where those operators do not load with the installed torch.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from synthral_ocr_omniparser import DETECTOR

from synthral_sdk.documents import torchvision_mismatch

#: Why torchvision's operators do not load with this torch (a build for another torch), or None.
TORCHVISION_MISMATCH = torchvision_mismatch()
needs_models = pytest.mark.skipif(TORCHVISION_MISMATCH is not None, reason=f"no model runs: {TORCHVISION_MISMATCH}")


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultralytics import YOLO  # noqa: PLC0415 - only where torchvision's operators load (needs_models)

    folder = tmp_path_factory.mktemp("omniparser-weights")
    (folder / DETECTOR).parent.mkdir(parents=True)
    YOLO("yolov8n.yaml").save(str(folder / DETECTOR))  # the architecture, no download, random weights
    return folder
