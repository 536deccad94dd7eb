"""``synthral connector import-openapi``: an OpenAPI 3.0/3.1 document becomes a connector folder.

Each operation becomes a function (``APP__OPERATION_ID``) whose parameters are grouped as
ACI does (path, query, header, body), with local ``$ref``s inlined (a recursive one is cut
to an open object at the point it repeats). Auth comes from the security schemes the
document requires; the server URL from its first server (variables at their defaults);
pagination is detected from parameter and response names (cursor, page, offset) and from
a ``Link`` response header. ``--select`` keeps operations by tag or operation id.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from synthral.errors import ConfigurationError
from synthral_sdk.rest import APP_FILE, FUNCTIONS_FILE, load_definition

__all__ = ["ImportResult", "import_openapi", "openapi_to_definition", "read_spec"]

METHODS: Final = ("get", "post", "put", "patch", "delete", "head")
CURSOR_PARAMS: Final = ("cursor", "after", "starting_after", "page_token", "pagetoken", "next_token", "continuation")
NEXT_FIELDS: Final = ("next_cursor", "nextcursor", "next_page_token", "nextpagetoken", "next", "cursor", "after")
MAX_DEPTH: Final = 12
BODY_DEPTH: Final = 6
RESPONSE_DEPTH: Final = 3
_DROP: Final = frozenset(
    {"example", "examples", "xml", "externalDocs", "discriminator", "deprecated", "readOnly", "writeOnly"}
)


@dataclass
class ImportResult:
    """What an import produced."""

    app: dict[str, Any]
    functions: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)


def read_spec(path: Path) -> dict[str, Any]:
    """Read a JSON or YAML OpenAPI document (``.gz`` too).

    Raises:
        ConfigurationError: Unreadable, not a mapping, or not OpenAPI 3.x.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}; pass the path of an OpenAPI document") from None
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml reads a large document 10x faster
        doc = json.loads(raw) if raw.lstrip()[:1] == b"{" else yaml.load(raw, Loader=loader)  # noqa: S506 -- a safe loader
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{path} is neither JSON nor YAML: {str(exc)[:300]}") from None
    if not isinstance(doc, dict):
        raise ConfigurationError(f"{path} is not an OpenAPI document (its top level is not a mapping)")
    version = str(doc.get("openapi", ""))
    if not re.match(r"3\.[01]\.", version):
        found = f"Swagger {doc['swagger']}" if "swagger" in doc else f"openapi {version or '(missing)'}"
        raise ConfigurationError(
            f"{path} is {found}; import-openapi reads OpenAPI 3.0 and 3.1. Convert a Swagger 2.0 document "
            "first (e.g. with swagger2openapi)",
            details={"found": found},
        )
    return doc


class _Resolver:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self._done: dict[str, Any] = {}

    def lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ConfigurationError(
                f"the document refers to {ref!r} outside itself; bundle it into one file first (e.g. redocly bundle)"
            )
        node: Any = self.doc
        for raw in ref[2:].split("/"):
            part = raw.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise ConfigurationError(f"the reference {ref!r} points at nothing; fix the document")
            node = node[part]
        return node

    def inline(self, node: Any, seen: tuple[str, ...] = (), depth: int = 0) -> Any:
        if isinstance(node, list):
            return [self.inline(item, seen, depth + 1) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in seen or depth > MAX_DEPTH:
                return {"type": "object", "description": f"(recursive: {ref.rsplit('/', 1)[-1]})"}
            if ref not in self._done:  # each component is expanded once; large documents reuse them
                self._done[ref] = self.inline(self.lookup(ref), (*seen, ref), depth + 1)
            return self._done[ref]
        return {k: self.inline(v, seen, depth + 1) for k, v in node.items() if k not in _DROP}


def _prune(schema: Any, depth: int) -> Any:
    """The schema cut to ``depth`` nested levels (deeper parts keep only their type).

    Response schemas of large APIs expand to megabytes once inlined; the docs and the
    catalog need the outline, and the runtime checks only inputs.
    """
    if not isinstance(schema, dict):
        return schema
    if depth <= 0:
        kept = {k: schema[k] for k in ("type", "description", "enum", "nullable") if k in schema}
        return kept or {}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: _prune(v, depth - 1) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _prune(value, depth - 1)
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [_prune(v, depth - 1) for v in value[:8]]
        else:
            out[key] = value
    return out


def _snake(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper() or "CALL"


def _app_name(doc: dict[str, Any], name: str | None) -> str:
    base = _snake(name or str((doc.get("info") or {}).get("title") or "API"))
    if not base[0].isalpha():
        base = "API_" + base
    return base[:40].rstrip("_")


def _server_url(doc: dict[str, Any]) -> str:
    servers = doc.get("servers") or [{"url": "/"}]
    server: dict[str, Any] = servers[0] if isinstance(servers[0], dict) else {"url": "/"}
    url = str(server.get("url") or "/")
    for name, var in (server.get("variables") or {}).items():
        if isinstance(var, dict) and "default" in var:
            url = url.replace("{" + name + "}", str(var["default"]))
    if not url.startswith(("http://", "https://")):
        url = "https://example.invalid" + ("" if url.startswith("/") else "/") + url.lstrip(".")
    return url.rstrip("/")


def _security(doc: dict[str, Any], resolver: _Resolver) -> dict[str, dict[str, Any]]:
    schemes = {k: resolver.inline(v) for k, v in ((doc.get("components") or {}).get("securitySchemes") or {}).items()}
    order = [name for req in doc.get("security") or [] if isinstance(req, dict) for name in req] + list(schemes)
    for name in order:
        scheme = schemes.get(name)
        if not isinstance(scheme, dict):
            continue
        kind = scheme.get("type")
        if kind == "apiKey" and scheme.get("in") in ("header", "query", "cookie"):
            return {"api_key": {"location": scheme["in"], "name": scheme.get("name", "X-API-Key")}}
        if kind == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
            return {"http_bearer": {}}
        if kind == "http" and str(scheme.get("scheme", "")).lower() == "basic":
            return {"http_basic": {}}
        if kind == "oauth2":
            flow = (scheme.get("flows") or {}).get("authorizationCode")
            if isinstance(flow, dict):
                return {
                    "oauth2": {
                        "scope": " ".join(flow.get("scopes") or {}),
                        "authorize_url": flow.get("authorizationUrl"),
                        "access_token_url": flow.get("tokenUrl"),
                    }
                }
    return {"no_auth": {}}


def _group(params: Iterable[dict[str, Any]], where: str) -> dict[str, Any] | None:
    props: dict[str, Any] = {}
    required: list[str] = []
    for param in params:
        if param.get("in") != where or not isinstance(param.get("name"), str):
            continue
        schema = dict(param.get("schema") or {"type": "string"})
        if param.get("description") and "description" not in schema:
            schema["description"] = param["description"]
        props[param["name"]] = schema
        if param.get("required") or where == "path":
            required.append(param["name"])
    if not props:
        return None
    group: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        group["required"] = required
    return group


def _body(operation: dict[str, Any]) -> tuple[dict[str, Any] | None, str, bool]:
    body = operation.get("requestBody")
    if not isinstance(body, dict):
        return None, "application/json", False
    content = body.get("content") or {}
    for media in ("application/json", "application/x-www-form-urlencoded"):
        for key, value in content.items():
            if key.split(";")[0].strip() == media or (media == "application/json" and key.endswith("+json")):
                schema = (value or {}).get("schema") or {"type": "object"}
                return schema, media, bool(body.get("required"))
    return None, "unsupported", bool(body.get("required"))


def _response(operation: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    responses = operation.get("responses") or {}
    for code in sorted(responses, key=str):
        if not str(code).startswith("2") or not isinstance(responses[code], dict):
            continue
        answer = responses[code]
        has_link = any(str(h).lower() == "link" for h in answer.get("headers") or {})
        for key, value in (answer.get("content") or {}).items():
            if "json" in key and isinstance(value, dict) and isinstance(value.get("schema"), dict):
                return value["schema"], has_link
        return {}, has_link
    return {}, False


def _find_next(schema: dict[str, Any], prefix: str = "", depth: int = 0) -> str | None:
    found = schema.get("properties")
    props: dict[str, Any] = found if isinstance(found, dict) else {}
    for name, sub in props.items():
        if str(name).lower() in NEXT_FIELDS and isinstance(sub, dict) and sub.get("type") in ("string", None):
            return f"{prefix}{name}"
    if depth < 1:
        for name, sub in props.items():
            if isinstance(sub, dict) and sub.get("type") == "object":
                found = _find_next(sub, f"{prefix}{name}.", depth + 1)
                if found:
                    return found
    return None


def _items_path(schema: dict[str, Any]) -> str:
    if schema.get("type") == "array":
        return ""
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict) and sub.get("type") == "array":
            return str(name)
    return ""


def _pagination(query: dict[str, Any] | None, response: dict[str, Any], has_link: bool) -> dict[str, Any] | None:
    names = {n.lower(): n for n in ((query or {}).get("properties") or {})}
    items = _items_path(response)
    cursor = next((names[c] for c in CURSOR_PARAMS if c in names), None)
    next_field = _find_next(response)
    if cursor and next_field:
        return {"type": "cursor", "items": items, "param": f"query.{cursor}", "next": next_field}
    if has_link:
        return {"type": "link", "items": items}
    if "page" in names and (items or response.get("type") == "array"):
        return {"type": "page", "items": items, "param": f"query.{names['page']}"}
    if "offset" in names and (items or response.get("type") == "array"):
        return {"type": "offset", "items": items, "param": f"query.{names['offset']}"}
    return None


def _selected(operation: dict[str, Any], op_id: str, select: Sequence[str]) -> bool:
    if not select:
        return True
    wanted = {s.lower() for s in select}
    tags = {str(t).lower() for t in operation.get("tags") or []}
    return bool(wanted & tags) or op_id.lower() in wanted or _snake(op_id).lower() in wanted


def openapi_to_definition(doc: dict[str, Any], *, name: str | None = None, select: Sequence[str] = ()) -> ImportResult:
    """Convert an OpenAPI 3.x document (already read) into app and function definitions.

    Raises:
        ConfigurationError: ``select`` names nothing in the document (the message lists its tags).
    """
    resolver = _Resolver(doc)
    app_name = _app_name(doc, name)
    info = doc.get("info") or {}
    functions: list[dict[str, Any]] = []
    skipped: list[str] = []
    used: set[str] = set()
    for path, raw_item in (doc.get("paths") or {}).items():
        if not isinstance(raw_item, dict):
            continue
        item = resolver.inline(raw_item) if "$ref" in raw_item else raw_item
        shared = [resolver.inline(p) for p in item.get("parameters") or []]
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            op_id = str(operation.get("operationId") or f"{method}_{path}")
            if not _selected(operation, op_id, select):
                continue
            own = [resolver.inline(p) for p in operation.get("parameters") or []]
            by_key = {(p.get("in"), p.get("name")): p for p in [*shared, *own] if isinstance(p, dict)}
            params = list(by_key.values())
            body_schema, media, body_required = _body(operation)
            if media == "unsupported":
                skipped.append(f"{method.upper()} {path}: its request body is neither JSON nor a form")
                continue
            groups: dict[str, Any] = {}
            for where in ("path", "query", "header", "cookie"):
                group = _group(params, where)
                if group is not None:
                    groups[where] = group
            if body_schema is not None:
                groups["body"] = _prune(resolver.inline(body_schema), BODY_DEPTH)
            for param in re.findall(r"{([^}]+)}", path):
                groups.setdefault("path", {"type": "object", "properties": {}, "required": []})
                if param not in groups["path"]["properties"]:
                    groups["path"]["properties"][param] = {"type": "string"}
                    groups["path"]["required"] = [*groups["path"].get("required", []), param]
            required = [g for g in groups if g == "path" or (g == "body" and body_required)]
            required += [g for g in ("query", "header") if g in groups and groups[g].get("required")]
            fname = f"{app_name}__{_snake(op_id)}"[:120]
            base, n = fname, 2
            while fname in used:
                fname, n = f"{base}_{n}", n + 1
            used.add(fname)
            response_schema, has_link = _response(operation)
            response = _prune(resolver.inline(response_schema), RESPONSE_DEPTH)
            function: dict[str, Any] = {
                "name": fname,
                "description": " ".join(str(operation.get("summary") or operation.get("description") or "").split())[
                    :1000
                ],
                "tags": [str(t) for t in operation.get("tags") or []],
                "protocol": "rest",
                "protocol_data": {"method": method.upper(), "path": path, "content_type": media},
                "parameters": {"type": "object", "properties": groups, "required": required},
            }
            if response:
                function["response"] = {"schema": response}
            pagination = _pagination(groups.get("query"), response if isinstance(response, dict) else {}, has_link)
            if pagination is not None:
                function["pagination"] = pagination
            functions.append(function)
    if select and not functions:
        tags = sorted(
            {
                str(t)
                for item in (doc.get("paths") or {}).values()
                if isinstance(item, dict)
                for op in item.values()
                if isinstance(op, dict)
                for t in op.get("tags") or []
            }
        )
        raise ConfigurationError(
            f"--select {' '.join(select)} matches no operation; the document's tags are: {', '.join(tags) or 'none'} "
            "(operation ids work too)",
            details={"select": list(select), "tags": list(tags)},
        )
    app = {
        "name": app_name,
        "display_name": str(info.get("title") or app_name.title()),
        "version": "0.1.0",
        "description": " ".join(str(info.get("description") or "").split())[:2000],
        "server_url": _server_url(doc),
        "security_schemes": _security(doc, resolver),
        "api_version": str(info.get("version") or ""),
    }
    return ImportResult(app=app, functions=functions, skipped=skipped)


def import_openapi(
    spec: Path, out: Path, *, name: str | None = None, select: Sequence[str] = (), force: bool = False
) -> ImportResult:
    """Read ``spec``, write ``app.json`` and ``functions.json`` into ``out`` and check them.

    Raises:
        ConfigurationError: The document cannot be read or converted, or ``out`` already
            holds a definition and ``force`` is false.
    """
    if (out / APP_FILE).exists() and not force:
        raise ConfigurationError(f"{out} already holds {APP_FILE}; pass --force to replace it or choose another --out")
    result = openapi_to_definition(read_spec(spec), name=name, select=select)
    out.mkdir(parents=True, exist_ok=True)
    (out / APP_FILE).write_text(json.dumps(result.app, indent=2) + "\n")
    (out / FUNCTIONS_FILE).write_text(json.dumps(result.functions, indent=2) + "\n")
    load_definition(out)  # what was written must load: a converter bug surfaces here, not at build time
    return result
