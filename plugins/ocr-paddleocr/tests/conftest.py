"""Untrained PP-OCRv5 mobile models exported once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from models import detection_model, recognition_model

os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("paddle-models")
    detection_model(folder / "det")
    recognition_model(folder / "rec")
    return folder
