"""docTR models built untrained (no download) and saved as a weights folder, once per session.

Building them needs torchvision's compiled operators; the tests that do are marked ``needs_models``
and skipped, naming the reason, where those operators do not load with the installed torch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synthral_sdk.documents import torchvision_mismatch

#: Small architectures, so a page runs in a second; the defaults are docTR's released ones.
ARCHS = {"det_arch": "db_mobilenet_v3_large", "reco_arch": "crnn_mobilenet_v3_small"}

#: Why torchvision's operators do not load with this torch (a build for another torch), or None.
TORCHVISION_MISMATCH = torchvision_mismatch()
needs_models = pytest.mark.skipif(TORCHVISION_MISMATCH is not None, reason=f"no model runs: {TORCHVISION_MISMATCH}")


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch  # noqa: PLC0415 - only where torchvision's operators load (needs_models)
    from doctr import models  # noqa: PLC0415 - as above

    folder = tmp_path_factory.mktemp("doctr-weights")
    torch.manual_seed(0)
    det = models.db_mobilenet_v3_large(pretrained=False, pretrained_backbone=False)
    reco = models.crnn_mobilenet_v3_small(pretrained=False, pretrained_backbone=False)
    torch.save(det.state_dict(), folder / "det.pt")
    torch.save(reco.state_dict(), folder / "reco.pt")
    return folder


@pytest.fixture(scope="session")
def table_weights_dir(weights_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, plus untrained layout and table-structure models."""
    import torch  # noqa: PLC0415 - as above
    from doctr import models  # noqa: PLC0415 - as above

    folder = tmp_path_factory.mktemp("doctr-weights-tables")
    for name in ("det.pt", "reco.pt"):
        (folder / name).write_bytes((weights_dir / name).read_bytes())
    torch.save(models.lw_detr_s(pretrained=False).state_dict(), folder / "layout.pt")
    torch.save(models.tablecenternet(pretrained=False, pretrained_backbone=False).state_dict(), folder / "table.pt")
    return folder
