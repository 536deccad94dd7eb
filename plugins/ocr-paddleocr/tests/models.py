"""PaddleOCR model folders made here: PaddleX's real PP-OCRv5 mobile architectures, untrained, exported.

Each folder is what PaddleOCR's published models look like: ``inference.json`` and
``inference.pdiparams`` (paddle.jit.save) and ``inference.yml`` (the model name, its pre-
and post-processing).
"""

from __future__ import annotations

import string
from pathlib import Path

import paddle
import yaml
from paddle.static import InputSpec
from paddlex.inference.models.text_detection.modeling import PPOCRV5MobileDet
from paddlex.inference.models.text_detection.modeling._config_pp_ocrv5_mobile import PPOCRV5MobileDetConfig
from paddlex.inference.models.text_recognition.modeling import PPOCRV5MobileRec
from paddlex.inference.models.text_recognition.modeling._config_pp_ocrv5_mobile_rec import PPOCRV5MobileRecConfig

CHARACTERS = list(string.digits + string.ascii_letters + string.punctuation)


class _Export(paddle.nn.Layer):
    """The network without PaddleX's numpy-in, numpy-out wrapper, so it can be traced."""

    def __init__(self, model: paddle.nn.Layer) -> None:
        super().__init__()
        self.inner = model

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.inner.head(self.inner.model(x))


def _save(model: paddle.nn.Layer, folder: Path, spec: list[int | None], config: dict[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.eval()
    paddle.jit.save(_Export(model), str(folder / "inference"), input_spec=[InputSpec(spec, "float32", "x")])
    (folder / "inference.yml").write_text(yaml.safe_dump(config))
    return folder


def detection_model(folder: Path) -> Path:
    paddle.seed(0)
    config = {
        "Global": {"model_name": "PP-OCRv5_mobile_det"},
        "PreProcess": {
            "transform_ops": [
                {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
                {"DetResizeForTest": {"resize_long": 960}},
                {"NormalizeImage": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                                    "scale": "1./255.", "order": "hwc"}},
                {"ToCHWImage": None},
                {"KeepKeys": {"keep_keys": ["image", "shape", "polys", "ignore_tags"]}},
            ]
        },
        "PostProcess": {"name": "DBPostProcess", "thresh": 0.3, "box_thresh": 0.6, "max_candidates": 1000,
                        "unclip_ratio": 1.5},
    }  # fmt: skip
    return _save(PPOCRV5MobileDet(PPOCRV5MobileDetConfig()), folder, [None, 3, None, None], config)


def recognition_model(folder: Path) -> Path:
    paddle.seed(0)
    rec_config = PPOCRV5MobileRecConfig(head_out_channels=len(CHARACTERS) + 2)
    config = {
        "Global": {"model_name": "PP-OCRv5_mobile_rec"},
        "PreProcess": {
            "transform_ops": [
                {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
                {"RecResizeImg": {"image_shape": [3, 48, 320]}},
                {"KeepKeys": {"keep_keys": ["image", "length"]}},
            ]
        },
        "PostProcess": {"name": "CTCLabelDecode", "character_dict": CHARACTERS},
    }
    return _save(PPOCRV5MobileRec(rec_config), folder, [None, 3, 48, None], config)
