"""Loading workflows from JSON and YAML, the stored form, and every example in examples/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral.builtins.core import synthral_nodes
from synthral.engine.loader import dump_workflow, load_workflow, parse_workflow
from synthral.engine.model import CronTrigger, Workflow
from synthral.engine.validate import SpecCatalog, validate_workflow
from synthral.errors import WorkflowInvalid
from synthral_sdk import BlobRef, Context, OCREngine, OCRRequest, OCRResult
from synthral_sdk import Node as SdkNode

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


HELLO_YAML = """\
name: hello
nodes:
  - id: greet
    type: core/set
    input:
      data: {who: "{{ trigger.who }}"}
  - id: done
    type: core/noop
edges:
  - {source: greet, target: done}
"""


def test_loads_yaml_and_json_to_the_same_workflow(tmp_path: Path) -> None:
    from_yaml = load_workflow(write(tmp_path, "w.yaml", HELLO_YAML))
    from_yml = load_workflow(write(tmp_path, "w.yml", HELLO_YAML))
    from_json = load_workflow(write(tmp_path, "w.json", dump_workflow(from_yaml)))
    assert from_yaml == from_yml == from_json
    assert from_yaml.node("greet").input == {"data": {"who": "{{ trigger.who }}"}}


def test_the_stored_form_is_complete_json_that_round_trips() -> None:
    workflow = parse_workflow(
        {
            "name": "w",
            "nodes": [{"id": "a", "type": "core/noop", "retry": {"max_attempts": 2}}],
            "triggers": [{"type": "cron", "cron": "0 9 * * *", "timezone": "Europe/Paris"}],
        },
        source="test",
    )
    text = dump_workflow(workflow)
    stored = json.loads(text)
    assert stored["settings"]["max_steps"] == 10_000
    assert stored["triggers"][0] == {
        "type": "cron",
        "cron": "0 9 * * *",
        "timezone": "Europe/Paris",
        "catch_up": "once",
        "input": {},
    }
    assert parse_workflow(stored, source="stored") == workflow


def test_yaml_keeps_yes_no_and_dates_as_strings(tmp_path: Path) -> None:
    text = """\
name: y
nodes:
  - id: s
    type: core/switch
    config:
      rules:
        - branch: no
          conditions: [{path: answer, op: eq, value: yes}]
        - branch: on
          conditions: [{path: when, op: eq, value: 2026-12-01T09:00:00+01:00}]
      fallback: off
  - id: w
    type: core/wait
    config: {until: 2026-12-01T09:00:00+01:00}
    input: {data: {flag: true, other: False, day: 2026-12-01}}
"""
    workflow = load_workflow(write(tmp_path, "y.yaml", text))
    switch: dict[str, Any] = workflow.node("s").config
    assert switch["fallback"] == "off"
    assert switch["rules"][0]["branch"] == "no"
    assert switch["rules"][0]["conditions"][0]["value"] == "yes"
    assert workflow.node("w").config == {"until": "2026-12-01T09:00:00+01:00"}
    assert workflow.node("w").input == {"data": {"flag": True, "other": False, "day": "2026-12-01"}}


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        (
            "bad.yaml",
            "name: x\nnodes:\n  - id: a\n    type: [unclosed\n",
            r"bad\.yaml, line 5, column 1: .*fix the file's syntax",
        ),
        ("tab.yaml", "name: x\nnodes:\n\t- id: a\n", r"tab\.yaml, line 3, column 1"),
        ("dup.yaml", "name: x\nname: y\nnodes: []\n", r"dup\.yaml, line 2, column 1: .*found the key 'name' twice"),
        ("bad.json", '{"name": "x",\n "nodes": [}', r"bad\.json, line 2, column 12: Expecting value"),
        ("dup.json", '{"name": "x", "name": "y", "nodes": []}', r"dup\.json: the key 'name' appears twice"),
    ],
)
def test_syntax_errors_name_the_file_and_the_line(tmp_path: Path, name: str, text: str, match: str) -> None:
    with pytest.raises(WorkflowInvalid, match=match) as caught:
        load_workflow(write(tmp_path, name, text))
    assert str(caught.value.details["source"]).endswith(name)


def test_unreadable_files_and_other_suffixes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(WorkflowInvalid, match=r"must end in \.json, \.yaml or \.yml, not '\.toml'"):
        load_workflow(write(tmp_path, "w.toml", "name = 'x'"))
    with pytest.raises(WorkflowInvalid, match="cannot read the file"):
        load_workflow(tmp_path / "missing.yaml")
    with pytest.raises(WorkflowInvalid, match="holds nothing"):
        load_workflow(write(tmp_path, "empty.yaml", "# nothing here\n"))
    with pytest.raises(WorkflowInvalid, match="holds a list"):
        load_workflow(write(tmp_path, "list.json", "[1, 2]"))


def test_shape_errors_name_the_node_and_the_field() -> None:
    data = {
        "name": "w",
        "nodes": [
            {"id": "fetch", "type": "http/request", "timeout": 0},
            {"id": "bad-id", "type": "core/noop"},
            {"id": "typo", "type": "core/noop", "inptu": {}},
            {"type": "core/noop"},
        ],
        "edges": [{"source": "fetch"}],
        "triggers": [{"type": "cron", "cron": "0 9 * * *", "catch_up": "never"}, {"type": "telepathy"}],
        "settings": {"max_steps": 0},
    }
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(data, source="w.yaml")
    error = caught.value
    listed: list[dict[str, Any]] = error.details["issues"]  # type: ignore[assignment]  # JSON details hold dicts
    issues = {(issue["node"], issue["field"], issue["code"]) for issue in listed}
    assert issues == {
        ("fetch", "timeout", "invalid_field"),
        ("bad-id", "id", "invalid_field"),
        ("typo", "inptu", "unknown_field"),
        (None, "nodes[3].id", "missing_field"),
        (None, "edges[0].target", "missing_field"),
        (None, "triggers[0].catch_up", "invalid_field"),
        (None, "triggers[1]", "invalid_field"),
        (None, "settings.max_steps", "invalid_field"),
    }
    assert "node 'fetch': field 'timeout': Input should be greater than 0" in error.message
    assert "node 'bad-id': field 'id': node id 'bad-id' must start with a letter" in error.message
    assert error.message.startswith("w.yaml is invalid (8 problems):")
    assert error.details["source"] == "w.yaml"


def test_workflow_level_rules_are_reported_too() -> None:
    nodes = [{"id": "a", "type": "core/noop"}, {"id": "a", "type": "core/set"}]
    with pytest.raises(WorkflowInvalid, match="two nodes have the id 'a'; node ids must be unique"):
        parse_workflow({"name": "w", "nodes": nodes}, source="w.json")
    with pytest.raises(WorkflowInvalid, match="field 'nodes': List should have at least 1 item"):
        parse_workflow({"name": "w", "nodes": []}, source="w.json")


# -- the examples, validated against real specs ---------------------------------------------
#
# The http and ocr-tesseract plugins live in their own virtualenvs, so their classes are not
# importable here. These SDK capabilities mirror their documented config and input fields
# (plugins/http/synthral_http/models.py, plugins/ocr-tesseract/synthral_ocr_tesseract/engine.py).


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["bearer", "basic", "header", "query"]
    username: str | None = None
    name: str | None = None


class RequestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(default=30.0, gt=0)
    follow_redirects: bool = True
    max_redirects: int = Field(default=10, ge=0)
    verify_tls: bool = True
    response_format: Literal["auto", "json", "text", "blob"] = "auto"
    max_inline_bytes: int = Field(default=5 * 1024 * 1024, ge=0, le=8 * 1024 * 1024)
    raise_for_status: bool = True
    send_idempotency_key: bool = True
    auth: AuthConfig | None = None


QueryScalar = str | int | float | bool | None
QueryValue = QueryScalar | list[QueryScalar]


class RequestInput(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, QueryValue] = Field(default_factory=dict)
    json_body: JsonValue = Field(default=None, alias="json")
    form: dict[str, str] | None = None
    body: str | None = None
    body_blob: BlobRef | None = None
    content_type: str | None = None


class RequestOutput(BaseModel):
    status: int
    ok: bool
    url: str
    headers: dict[str, str]
    format: Literal["json", "text", "blob", "empty"]
    json_data: JsonValue = Field(default=None, alias="json")
    text: str | None = None
    blob: BlobRef | None = None
    elapsed_ms: int
    redirects: list[str] = Field(default_factory=list)


class HttpRequest(SdkNode[RequestInput, RequestOutput, RequestConfig]):
    """Mirror of the http plugin's 'request' node."""

    name = "request"

    def run(self, inputs: RequestInput, config: RequestConfig, context: Context) -> RequestOutput:
        raise NotImplementedError("only the spec is used here")


class TesseractConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    languages: list[str] = Field(default_factory=lambda: ["eng"], min_length=1)
    psm: int = Field(default=3, ge=0, le=13)
    oem: int | None = Field(default=None, ge=0, le=3)
    dpi: int = Field(default=300, ge=72, le=600)
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    tesseract_cmd: str | None = None
    tessdata_dir: str | None = None


class Tesseract(OCREngine[TesseractConfig]):
    """Mirror of the ocr-tesseract plugin's 'tesseract' engine."""

    name = "tesseract"

    def recognize(self, request: OCRRequest, config: TesseractConfig, context: Context) -> OCRResult:
        raise NotImplementedError("only the spec is used here")


def example_catalog() -> SpecCatalog:
    catalog = SpecCatalog()
    for node in synthral_nodes():
        catalog.add("core", "0.1.0", node.spec())
    catalog.add("http", "0.1.0", HttpRequest().spec())
    catalog.add("ocr-tesseract", "0.1.0", Tesseract().spec())
    return catalog


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_the_required_examples_exist() -> None:
    names = {path.name for path in EXAMPLE_FILES}
    assert {"hello.yaml", "fetch-and-read.yaml", "approval.yaml", "nightly.yaml", "map.yaml"} <= names
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name in names:
        assert f"({name})" in readme, f"examples/README.md does not list {name}"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
def test_every_example_loads_and_validates(path: Path) -> None:
    workflow = load_workflow(path)
    catalog = example_catalog()
    assert validate_workflow(workflow, catalog, known_types=catalog.types) == []
    assert parse_workflow(json.loads(dump_workflow(workflow)), source="stored") == workflow


def test_the_examples_show_what_they_promise() -> None:
    def load(name: str) -> Workflow:
        return load_workflow(EXAMPLES / name)

    hello = load("hello.yaml")
    assert [node.type for node in hello.nodes][:3] == ["core/set", "core/if", "core/transform"]
    assert {node.type.split("/")[0] for node in hello.nodes} == {"core"}
    fetch = load("fetch-and-read.yaml")
    types = {node.type for node in fetch.nodes}
    assert {"http/request", "ocr-tesseract/tesseract"} <= types
    assert any("{{ trigger.url }}" in json.dumps(node.input) for node in fetch.nodes)
    assert any(node.type == "engine/human_input" for node in load("approval.yaml").nodes)
    cron = [trigger for trigger in load("nightly.yaml").triggers if isinstance(trigger, CronTrigger)]
    assert cron
    assert cron[0].timezone != "UTC"
    assert any(node.type == "engine/map" for node in load("map.yaml").nodes)


def test_an_example_with_a_mistake_is_caught(tmp_path: Path) -> None:
    text = (EXAMPLES / "fetch-and-read.yaml").read_text(encoding="utf-8")
    broken = text.replace("response_format: blob", "response_format: binary").replace(
        "{{ nodes.image.output.blob }}", "{{ nodes.imag.output.blob }}"
    )
    workflow = load_workflow(write(tmp_path, "broken.yaml", broken))
    catalog = example_catalog()
    codes: dict[str, Any] = {issue.code: issue for issue in validate_workflow(workflow, catalog)}
    assert set(codes) == {"config_invalid", "unknown_reference"}
    assert codes["config_invalid"].field == "config.response_format"
    assert "did you mean 'image'" in codes["unknown_reference"].message


def doc_workflows() -> list[str]:
    """The YAML blocks of docs/workflow-format.md that are whole workflows."""
    text = (EXAMPLES.parent / "docs" / "workflow-format.md").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in text.split("```yaml\n")[1:]]
    return [block for block in blocks if block.startswith("name:")]


def test_the_workflows_in_the_format_docs_load_and_validate(tmp_path: Path) -> None:
    blocks = doc_workflows()
    assert len(blocks) >= 2  # the first workflow and the complete example
    catalog = example_catalog()
    for number, block in enumerate(blocks):
        workflow = load_workflow(write(tmp_path, f"doc{number}.yaml", block))
        assert validate_workflow(workflow, catalog, known_types=catalog.types) == [], block
