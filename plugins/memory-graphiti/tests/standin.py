"""The repository's OpenAI-compatible stand-in, scripted to answer Graphiti's structured prompts.

Graphiti asks for JSON matching a schema it names (``response_format.json_schema``). The
stand-in 'extracts' one entity per capitalised word of the current message and a fact
linking the first two; it resolves no duplicates and finds no contradictions; for any other
schema it answers the smallest object the schema allows.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

_spec = importlib.util.spec_from_file_location(
    "openai_standin", Path(__file__).resolve().parents[3] / "tests" / "support" / "openai_standin.py"
)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
sys.modules["openai_standin"] = _module
_spec.loader.exec_module(_module)
OpenAIStandIn = _module.OpenAIStandIn

_MESSAGE = re.compile(r"<(CURRENT MESSAGE|CURRENT_MESSAGE|TEXT)>\s*(.*?)\s*</\1>", re.S)
_QUESTION = {"Who", "What", "When", "Where", "Which", "How", "Why"}
names_seen: list[str] = []


def entities_of(text: str) -> list[str]:
    """The names the stand-in 'extracts': capitalised words and 'Number N' for each number."""
    names = re.findall(r"\b[A-Z][a-z]{2,}\b", text) + [f"Number {n}" for n in re.findall(r"\b\d+\b", text)]
    return [n for n in dict.fromkeys(names) if n not in _QUESTION]


def _minimal(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _minimal(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return None
    kind = schema.get("type")
    if kind == "object":
        required = schema.get("required", [])
        return {k: _minimal(v, defs) for k, v in schema.get("properties", {}).items() if k in required}
    return {"array": [], "string": "", "integer": 0, "number": 0.0, "boolean": False}.get(str(kind))


def graphiti(body: dict[str, Any]) -> str:
    """Answer one of Graphiti's chat requests."""
    spec = (body.get("response_format") or {}).get("json_schema") or {}
    name = spec.get("name")
    prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
    found = _MESSAGE.search(prompt)
    text = found.group(2) if found else ""
    if name == "ExtractedEntities":
        return json.dumps({"extracted_entities": [{"name": n, "entity_type_id": 0} for n in entities_of(text)]})
    if name == "ExtractedEdges":
        names = entities_of(text)
        edges = []
        if len(names) >= 2:
            edges.append(
                {
                    "source_entity_name": names[0],
                    "target_entity_name": names[1],
                    "relation_type": "MENTIONED_WITH",
                    "fact": f"{names[0]} is mentioned with {names[1]}: {text[:80]}",
                }
            )
        return json.dumps({"edges": edges})
    schema = spec.get("schema") or {"type": "object"}
    return json.dumps(_minimal(schema, schema.get("$defs", {})))
