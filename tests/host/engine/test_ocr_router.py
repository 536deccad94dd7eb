"""The OCR router: the PRD's rules among ready engines, each decision with its reason."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from synthral.engine.ocr_node import DocumentFacts, OCRExtractConfig, ready_engines, route
from synthral.engine.ocr_pace import EnginePace
from synthral.errors import ConfigurationError
from synthral_sdk import CapabilityKind, CapabilitySpec, OperationSpec

MB = 1024 * 1024


class Plain(BaseModel):
    model_config = ConfigDict(extra="forbid")
    languages: list[str] = Field(default_factory=lambda: ["en"])


class NeedsWeights(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weights_dir: str


def spec(name: str, config: type[BaseModel] = Plain) -> CapabilitySpec:
    return CapabilitySpec(
        name=name,
        kind=CapabilityKind.OCR_ENGINE,
        title=name,
        description=name,
        config_schema=config.model_json_schema(),
        operations={"recognize": OperationSpec(input_schema={}, output_schema={})},
    )


EVERY = [
    ("ocr-rapidocr", spec("rapidocr")),
    ("ocr-tesseract", spec("tesseract")),
    ("ocr-doctr", spec("doctr", NeedsWeights)),
    ("ocr-easyocr", spec("easyocr", NeedsWeights)),
    ("ocr-paddleocr", spec("paddleocr", NeedsWeights)),
    ("ocr-omniparser", spec("omniparser", NeedsWeights)),
    ("ocr-google-vision", spec("google_vision", NeedsWeights)),
]
WEIGHTS: dict[str, Any] = {
    name: {"weights_dir": "/models"} for name in ("doctr", "easyocr", "paddleocr", "omniparser", "google_vision")
}
PNG = DocumentFacts(media_type="image/png", size=200_000)
BIG_PDF = DocumentFacts(media_type="application/pdf", size=40 * MB)


def decide(
    facts: DocumentFacts, configured: dict[str, Any] | None = None, pace: dict[str, float] | None = None, **hints: Any
) -> tuple[str, str]:
    config = OCRExtractConfig.model_validate(
        {**hints, "engine_configs": configured if configured is not None else WEIGHTS}
    )
    ready, not_ready = ready_engines(EVERY, config.engine_configs)
    decision = route(facts, config, ready, not_ready, pace)
    return decision.engine.name, decision.reason


@pytest.mark.parametrize(
    ("facts", "hints", "engine", "because"),
    [
        (PNG, {"structured_json": True, "layout": "table"}, "omniparser", "structured JSON required"),
        (PNG, {"layout": "table"}, "doctr", "table layout"),
        (PNG, {"handwriting": True}, "easyocr", "handwriting"),
        (BIG_PDF, {}, "google_vision", "heavy application/pdf"),
        (BIG_PDF, {"region": "EU"}, "rapidocr", "region EU"),
        (PNG, {"latency": "low"}, "rapidocr", "low latency"),
        (PNG, {}, "rapidocr", "printed text"),
        (DocumentFacts(media_type="application/pdf", size=MB), {}, "rapidocr", "printed text"),
    ],
)
def test_each_rule_picks_its_engine_and_says_why(
    facts: DocumentFacts, hints: dict[str, Any], engine: str, because: str
) -> None:
    chosen, reason = decide(facts, **hints)
    assert chosen == engine
    assert because in reason


def test_an_engine_missing_its_settings_is_not_ready_and_the_reason_says_the_rule_was_skipped() -> None:
    chosen, reason = decide(PNG, {}, layout="table")
    assert chosen == "rapidocr"
    assert "table layout wants doctr, which is not ready" in reason
    ready, not_ready = ready_engines(EVERY, {})
    assert set(ready) == {"rapidocr", "tesseract"}
    assert "'weights_dir' is a required property" in not_ready["doctr"]


def test_uninstalled_engines_are_skipped_down_to_tesseract() -> None:
    only_tesseract = [("ocr-tesseract", spec("tesseract"))]
    config = OCRExtractConfig(latency="low")
    ready, not_ready = ready_engines(only_tesseract, {})
    decision = route(PNG, config, ready, not_ready)
    assert decision.engine.ref == "ocr-tesseract/tesseract"
    assert "low latency wants rapidocr, which is not installed" in decision.reason
    assert decision.fallback is None  # no second Tesseract run after an empty Tesseract result


def test_tesseract_is_the_fallback_of_every_other_engine_unless_turned_off() -> None:
    ready, not_ready = ready_engines(EVERY, WEIGHTS)
    assert route(PNG, OCRExtractConfig(), ready, not_ready).fallback is ready["tesseract"]
    assert route(PNG, OCRExtractConfig(fallback=False), ready, not_ready).fallback is None


def test_the_node_can_name_its_engine_and_is_told_when_it_is_not_ready() -> None:
    ready, not_ready = ready_engines(EVERY, {})
    assert route(PNG, OCRExtractConfig(engine="ocr-tesseract/tesseract"), ready, not_ready).engine.name == "tesseract"
    with pytest.raises(ConfigurationError, match="'doctr': doctr is installed but not ready"):
        route(PNG, OCRExtractConfig(engine="doctr"), ready, not_ready)
    with pytest.raises(ConfigurationError, match="no installed, enabled OCR engine is called 'abbyy'"):
        route(PNG, OCRExtractConfig(engine="abbyy"), ready, not_ready)


def test_without_any_engine_the_error_says_what_to_install() -> None:
    ready, not_ready = ready_engines([("ocr-doctr", spec("doctr", NeedsWeights))], {})
    with pytest.raises(ConfigurationError, match="synthral plugin install ocr-rapidocr") as caught:
        route(PNG, OCRExtractConfig(), ready, not_ready)
    assert "doctr is installed but not ready" in caught.value.message


def test_engine_settings_for_unknown_engines_are_refused() -> None:
    with pytest.raises(ValueError, match="abbyy: not an OCR engine"):
        OCRExtractConfig.model_validate({"engine_configs": {"abbyy": {}}})


BARE: dict[str, Any] = {}  # no weights: rapidocr and tesseract ready, paddleocr not


def test_a_default_engine_slower_than_the_budget_gives_way_to_a_faster_timed_one() -> None:
    name, reason = decide(PNG, BARE, pace={"rapidocr": 6095.0, "tesseract": 654.0})
    assert name == "tesseract"
    assert reason == (
        "printed text → tesseract: rapidocr has been reading a page in 6,095 ms here, over the 1,000 ms budget; "
        "tesseract in 654 ms"
    )


def test_an_engine_not_yet_timed_is_tried_when_the_default_is_slow() -> None:
    name, reason = decide(PNG, pace={"rapidocr": 1800.0})
    assert name == "paddleocr"  # ready here (weights configured), and the next printed-text engine
    assert reason.endswith("over the 1,000 ms budget; timing paddleocr, not yet timed here")


def test_the_fastest_timed_engine_wins_when_none_is_within_the_budget() -> None:
    name, reason = decide(PNG, BARE, pace={"rapidocr": 5000.0, "tesseract": 2500.0})
    assert name == "tesseract" and reason.endswith("tesseract is faster (2,500 ms)")


def test_the_default_stays_within_the_budget_without_timings_or_with_the_rule_off() -> None:
    fast = {"rapidocr": 400.0, "tesseract": 100.0}
    assert decide(PNG, BARE, pace=fast)[0] == "rapidocr"  # within budget: the PRD's order holds
    assert decide(PNG, BARE, pace={})[0] == "rapidocr"
    assert decide(PNG, BARE, pace={"tesseract": 100.0})[0] == "rapidocr"  # the default not timed yet
    assert decide(PNG, BARE, pace={"rapidocr": 6095.0, "tesseract": 654.0}, latency_budget_ms=0)[0] == "rapidocr"
    assert decide(PNG, BARE, pace={"rapidocr": 6095.0, "tesseract": 654.0}, latency_budget_ms=8000)[0] == "rapidocr"
    # A slower alternative is never chosen for being slow.
    assert decide(PNG, BARE, pace={"rapidocr": 1500.0, "tesseract": 3000.0})[0] == "rapidocr"


def test_the_latency_rule_leaves_named_engines_and_the_other_rules_alone() -> None:
    slow = {"rapidocr": 9000.0, "tesseract": 100.0}
    assert decide(PNG, BARE, pace=slow, engine="rapidocr")[0] == "rapidocr"
    assert decide(PNG, BARE, pace=slow, latency="low")[0] == "rapidocr"
    assert decide(PNG, pace={"doctr": 9000.0, "tesseract": 1.0}, layout="table")[0] == "doctr"


def test_the_pace_is_the_recent_median_per_page_and_old_timings_are_forgotten() -> None:
    now = [0.0]
    pace = EnginePace(keep=3, max_age=600.0, clock=lambda: now[0])
    pace.record("rapidocr", 3000.0, pages=3)  # 1,000 ms a page
    pace.record("rapidocr", 500.0, pages=1)
    pace.record("rapidocr", 9000.0, pages=1)
    pace.record("tesseract", 100.0, pages=0)  # nothing read: not a timing
    assert pace.per_page() == {"rapidocr": 1000.0}
    pace.record("rapidocr", 700.0, pages=1)  # only the last three count
    assert pace.per_page() == {"rapidocr": 700.0}
    now[0] = 601.0
    pace.record("tesseract", 800.0, pages=2)
    assert pace.per_page() == {"tesseract": 400.0}  # rapidocr's timings are too old: timed again when chosen
