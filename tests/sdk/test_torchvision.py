"""torchvision_mismatch where PyTorch is not installed; the OCR plugins on PyTorch test it on the real thing."""

import importlib.util
import sys

from synthral_sdk.documents import torchvision_mismatch


def test_there_is_nothing_to_say_and_nothing_imported_where_torchvision_is_not_installed() -> None:
    assert importlib.util.find_spec("torchvision") is None  # the host's venv holds no PyTorch
    assert torchvision_mismatch() is None
    assert "torch" not in sys.modules
