"""The repository's OpenAI-compatible stand-in, scripted to answer LightRAG's prompts.

Entity extraction gets one entity per capitalised or numbered word of the input text and a
relation between the first two; keyword extraction gets the query's words as JSON; anything
else (description summaries) gets its prompt's last line back.
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
bag_of_words = _module.bag_of_words

_D = "<|#|>"
_QUESTION = {"Who", "What", "When", "Where", "Which", "How", "Why"}
_TEXT = re.compile(r"---Input Text---\s*```\s*(.*?)```", re.S)
_QUERY = re.compile(r"User Query:\s*(.*?)\s*---Output---", re.S)


def entities_of(text: str) -> list[str]:
    """The names the stand-in 'extracts': capitalised words, and 'Number N' for each number."""
    names = re.findall(r"\b[A-Z][a-z]{2,}\b", text) + [f"Number {n}" for n in re.findall(r"\b\d+\b", text)]
    return list(dict.fromkeys(names))


def lightrag(body: dict[str, Any]) -> str:
    """Answer one of LightRAG's chat requests."""
    prompt = str(body["messages"][-1].get("content", ""))
    found = _TEXT.search(prompt)
    if found:
        text = found.group(1).strip()
        names = entities_of(text)
        rows = [f"entity{_D}{n}{_D}concept{_D}{n} is mentioned in: {text[:80]}" for n in names]
        if len(names) >= 2:
            rows.append(
                f"relation{_D}{names[0]}{_D}{names[1]}{_D}mentioned together{_D}{names[0]} appears with {names[1]}"
            )
        return "\n".join([*rows, "<|COMPLETE|>"])
    query = _QUERY.search(prompt)
    if query:
        names = [n for n in entities_of(query.group(1)) if n not in _QUESTION]
        return json.dumps({"high_level_keywords": [], "low_level_keywords": names or query.group(1).split()})
    return prompt.strip().splitlines()[-1] if prompt.strip() else "ok"
