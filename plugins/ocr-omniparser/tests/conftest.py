"""A YOLOv8 element detector built from ultralytics' own architecture file, untrained, saved as OmniParser's."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthral_ocr_omniparser import DETECTOR
from ultralytics import YOLO


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("omniparser-weights")
    (folder / DETECTOR).parent.mkdir(parents=True)
    YOLO("yolov8n.yaml").save(str(folder / DETECTOR))  # the architecture, no download, random weights
    return folder
