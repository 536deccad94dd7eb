"""EasyOCR's real CRAFT detector and generation-2 recogniser, untrained, saved as a weights folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from easyocr.config import recognition_models
from easyocr.craft import CRAFT
from easyocr.model.vgg_model import Model


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("easyocr-weights")
    torch.manual_seed(0)
    torch.save(CRAFT(pretrained=False).state_dict(), folder / "craft_mlt_25k.pth")
    english = recognition_models["gen2"]["english_g2"]
    recogniser = Model(input_channel=1, output_channel=256, hidden_size=256, num_class=len(english["characters"]) + 1)
    # EasyOCR's loader strips the 'module.' prefix that DataParallel training leaves on the keys.
    torch.save({f"module.{k}": v for k, v in recogniser.state_dict().items()}, folder / english["filename"])
    return folder
