"""Documentation of a connector, generated from its catalog entries: auth, actions, triggers.

The same text is a built connector's README (so the package index shows it), the answer of
``GET /api/v1/connectors/{slug}/docs`` and what ``synthral connector docs`` prints. It is
generated from the capability specs, so it covers hand-written connectors as well as
declared ones and cannot drift from what the plugin really accepts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from synthral_sdk import CapabilitySpec

__all__ = ["ConnectorDocs", "render_docs"]


@dataclass(frozen=True)
class ConnectorDocs:
    """What the docs are generated from."""

    connector: CapabilitySpec
    actions: Sequence[CapabilitySpec]
    triggers: Sequence[CapabilitySpec] = ()
    plugin: str = ""
    version: str = ""
    examples: dict[str, list[dict[str, Any]]] | None = None


def _fields(schema: dict[str, Any], prefix: str = "", depth: int = 0) -> list[tuple[str, str, bool, str]]:
    """(name, type, required, description) rows, nested groups flattened to ``group.field``."""
    rows: list[tuple[str, str, bool, str]] = []
    props = schema.get("properties")
    if not isinstance(props, dict):
        return rows
    required = set(schema.get("required") or [])
    for name, sub in props.items():
        if not isinstance(sub, dict):
            continue
        full = f"{prefix}{name}"
        kind = sub.get("type", "any")
        kind = " or ".join(kind) if isinstance(kind, list) else str(kind)
        if isinstance(sub.get("enum"), list):
            kind += ": " + ", ".join(f"`{v}`" for v in sub["enum"][:12])
        if kind == "object" and isinstance(sub.get("properties"), dict) and depth < 2:
            rows.extend(_fields(sub, f"{full}.", depth + 1))
            continue
        description = " ".join(str(sub.get("description") or sub.get("title") or "").split())
        rows.append((full, kind, name in required, description[:300]))
    return rows


def _table(rows: list[tuple[str, str, bool, str]]) -> list[str]:
    if not rows:
        return ["None.", ""]
    lines = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, kind, required, description in rows:
        cell = description.replace("|", "\\|")
        lines.append(f"| `{name}` | {kind.replace('|', '/')} | {'yes' if required else ''} | {cell} |")
    return [*lines, ""]


def _auth(extra: dict[str, Any]) -> list[str]:
    found = extra.get("auth")
    auth: dict[str, Any] = found if isinstance(found, dict) else {}
    kind = str(auth.get("type", "none"))
    lines = ["## Authentication", ""]
    if kind == "oauth2":
        scopes = ", ".join(f"`{s}`" for s in auth.get("scopes") or []) or "none"
        lines += [
            f"OAuth 2.0 (authorization code{' with PKCE' if auth.get('pkce') else ''}). Scopes: {scopes}.",
            f"Authorize URL: {auth.get('authorize_url') or 'set per workspace'}; "
            f"token URL: {auth.get('token_url') or 'set per workspace'}.",
            "Register the workspace's OAuth client with `PUT /api/v1/connectors/{slug}/client`, then connect.",
        ]
    elif kind == "none":
        lines.append("None: the API is public.")
    else:
        lines.append(
            f"{'API key' if kind == 'api_key' else 'HTTP Basic'}: a credential named after the connector with:"
        )
        lines.append("")
        for field in auth.get("fields") or []:
            secret = "secret" if field.get("secret", True) else "not secret"
            lines.append(
                f"- `{field.get('name')}` ({secret}){': ' + field['description'] if field.get('description') else ''}"
            )
    return [*lines, ""]


def render_docs(docs: ConnectorDocs) -> str:
    """The connector's documentation as Markdown."""
    spec = docs.connector
    extra: dict[str, Any] = dict(spec.extra)
    title = spec.title or spec.name
    lines = [f"# {title} connector", ""]
    if docs.plugin:
        lines += [f"Plugin `{docs.plugin}` {docs.version}, connector `{spec.name}`.", ""]
    if spec.description:
        lines += [spec.description, ""]
    lines += _auth(extra)
    webhook = extra.get("webhook")
    if isinstance(webhook, dict):
        events = ", ".join(f"`{e}`" for e in webhook.get("events") or []) or "any"
        lines += [
            "## Webhooks",
            "",
            f"Deliveries are verified with the `{webhook.get('scheme')}` scheme; events: {events}.",
            f"Point the service at `/api/v1/connectors/{spec.name}/webhook?workflow=ID`.",
            "",
        ]
    lines += ["## Actions", ""]
    for action in docs.actions:
        run = action.operations.get("run")
        lines += [f"### `{action.name}`", ""]
        if action.description:
            lines += [action.description, ""]
        if run is None:
            continue
        lines += ["Input:", "", *_table(_fields(dict(run.input_schema)))]
        out = dict(run.output_schema)
        props = out.get("properties")
        data = props.get("data") if isinstance(props, dict) else None
        if isinstance(data, dict) and (data.get("properties") or data.get("type")):
            lines += ["Output `data`:", ""]
            lines += _table(_fields(data)) if data.get("properties") else [f"{data.get('type')}.", ""]
        for example in (docs.examples or {}).get(action.name, []):
            lines += [f"Example{': ' + example['title'] if example.get('title') else ''}:", "", "```json"]
            lines += [json.dumps(example["input"], indent=2), "```", ""]
    if docs.triggers:
        lines += ["## Triggers", ""]
        for trigger in docs.triggers:
            lines += [f"### `{trigger.name}`", "", trigger.description or "Polls for new items.", ""]
            lines += ["Config:", "", *_table(_fields(dict(trigger.config_schema)))]
    return "\n".join(lines).rstrip() + "\n"
