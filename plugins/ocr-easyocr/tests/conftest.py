"""EasyOCR's real CRAFT detector and generation-2 recogniser, untrained, saved as a weights folder.

Building them needs torchvision's compiled operators; the tests that do are marked ``needs_models``
and skipped, naming the reason, where those operators do not load with the installed torch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synthral_sdk.documents import torchvision_mismatch

#: Why torchvision's operators do not load with this torch (a build for another torch), or None.
TORCHVISION_MISMATCH = torchvision_mismatch()
needs_models = pytest.mark.skipif(TORCHVISION_MISMATCH is not None, reason=f"no model runs: {TORCHVISION_MISMATCH}")


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch  # noqa: PLC0415 - only where torchvision's operators load (needs_models)
    from easyocr.config import recognition_models  # noqa: PLC0415 - EasyOCR imports torchvision
    from easyocr.craft import CRAFT  # noqa: PLC0415 - as above
    from easyocr.model.vgg_model import Model  # noqa: PLC0415 - as above

    folder = tmp_path_factory.mktemp("easyocr-weights")
    torch.manual_seed(0)
    torch.save(CRAFT(pretrained=False).state_dict(), folder / "craft_mlt_25k.pth")
    english = recognition_models["gen2"]["english_g2"]
    recogniser = Model(input_channel=1, output_channel=256, hidden_size=256, num_class=len(english["characters"]) + 1)
    # EasyOCR's loader strips the 'module.' prefix that DataParallel training leaves on the keys.
    torch.save({f"module.{k}": v for k, v in recogniser.state_dict().items()}, folder / english["filename"])
    return folder
