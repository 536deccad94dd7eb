"""A local stand-in for Weaviate's REST and GraphQL API (v1), in memory.

Standard library only. Classes with ``vectorizer: none`` and cosine distance, auto-schema
for new properties, batch import and batch delete, and the GraphQL ``Get`` (``nearVector``,
``limit``, ``where``) and ``Aggregate`` (``meta { count }``) queries, with the documented
error shapes and bearer-key authentication.
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<name>[_A-Za-z][_0-9A-Za-z]*)|(?P<punct>[{}()\[\]:,]))'
)


class _Parser:
    """The GraphQL subset the plugin sends: selections with arguments, literal values."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _TOKEN.match(text, position)
            if match is None:
                raise ValueError(f"syntax error at {text[position : position + 20]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.at]
        if value is not None and token[1] != value:
            raise ValueError(f"expected {value!r}, got {token[1]!r}")
        self.at += 1
        return token

    def selection(self) -> dict[str, Any]:
        """``{ field(args) { ... } field }`` → {field: {"args": ..., "fields": ...}}."""
        self.take("{")
        fields: dict[str, Any] = {}
        while self.peek() and self.peek()[1] != "}":  # type: ignore[index]
            name = self.take()[1]
            args: dict[str, Any] = {}
            if self.peek() and self.peek()[1] == "(":  # type: ignore[index]
                self.take("(")
                while self.peek()[1] != ")":  # type: ignore[index]
                    key = self.take()[1]
                    self.take(":")
                    args[key] = self.value()
                    if self.peek()[1] == ",":  # type: ignore[index]
                        self.take(",")
                self.take(")")
            sub = self.selection() if self.peek() and self.peek()[1] == "{" else None  # type: ignore[index]
            fields[name] = {"args": args, "fields": sub}
        self.take("}")
        return fields

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return json.loads(text)
        if kind == "num":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(text, ("enum", text))
        if text == "[":
            items = []
            while self.peek()[1] != "]":  # type: ignore[index]
                items.append(self.value())
                if self.peek()[1] == ",":  # type: ignore[index]
                    self.take(",")
            self.take("]")
            return items
        if text == "{":
            obj = {}
            while self.peek()[1] != "}":  # type: ignore[index]
                key = self.take()[1]
                self.take(":")
                obj[key] = self.value()
                if self.peek()[1] == ",":  # type: ignore[index]
                    self.take(",")
            self.take("}")
            return obj
        raise ValueError(f"unexpected {text!r}")


def _enum(value: Any) -> str:
    return value[1] if isinstance(value, tuple) else str(value)


class WeaviateStandIn:
    """Serve on 127.0.0.1 (a context manager); ``url`` is the base URL."""

    def __init__(self, *, api_key: str = "wv-test") -> None:
        self.api_key = api_key
        self.classes: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}
        self.dims: dict[str, int] = {}
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                del args

            def do_GET(self) -> None:
                standin._handle(self, "GET")

            def do_POST(self) -> None:
                standin._handle(self, "POST")

            def do_DELETE(self) -> None:
                standin._handle(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WeaviateStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _error(self, handler: BaseHTTPRequestHandler, status: int, message: str) -> None:
        self._send(handler, status, {"error": [{"message": message}]})

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            self._error(handler, 401, "anonymous access not enabled, please provide an auth scheme")
            return
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"null")
        path = handler.path.split("?", 1)[0]
        with self._lock:
            if method == "GET" and path.startswith("/v1/schema/"):
                name = path.rsplit("/", 1)[1]
                if name not in self.classes:
                    handler.send_response(404)
                    handler.send_header("Content-Length", "0")
                    handler.end_headers()
                    return
                self._send(handler, 200, self.classes[name])
            elif method == "POST" and path == "/v1/schema":
                self._create(handler, body)
            elif method == "POST" and path == "/v1/batch/objects":
                self._batch(handler, body)
            elif method == "DELETE" and path == "/v1/batch/objects":
                self._batch_delete(handler, body)
            elif method == "POST" and path == "/v1/graphql":
                self._graphql(handler, body)
            else:
                self._error(handler, 404, f"no route {method} {path}")

    def _create(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        name = body.get("class", "")
        if not re.fullmatch(r"[A-Z][_0-9A-Za-z]*", name):
            self._error(handler, 422, f"'{name}' is not a valid class name")
            return
        if name in self.classes:
            self._error(handler, 422, f"class name {name!r} already exists")
            return
        self.classes[name] = {**body, "properties": list(body.get("properties") or [])}
        self.objects[name] = {}
        self._send(handler, 200, self.classes[name])

    def _auto_schema(self, name: str, properties: dict[str, Any]) -> str | None:
        known = {p["name"]: p["dataType"][0] for p in self.classes[name]["properties"]}
        for key, value in properties.items():
            kind = "boolean" if isinstance(value, bool) else "number" if isinstance(value, int | float) else "text"
            if key not in known:
                self.classes[name]["properties"].append({"name": key, "dataType": [kind]})
            elif known[key] != kind:
                return f"invalid {kind} property {key!r} on class {name!r}: conflict: existing data type {known[key]}"
        return None

    def _batch(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        results = []
        for obj in body.get("objects", []):
            name = obj.get("class")
            errors = None
            if name not in self.classes:
                errors = f"class {name!r} not found"
            else:
                vector = obj.get("vector") or []
                if name in self.dims and len(vector) != self.dims[name]:
                    errors = (
                        f"new node has a vector with length {len(vector)}. "
                        f"Existing nodes have vectors with length {self.dims[name]}"
                    )
                else:
                    errors = self._auto_schema(name, obj.get("properties") or {})
            if errors is None:
                self.dims.setdefault(name, len(obj["vector"]))
                self.objects[name][obj["id"]] = obj
            result = {**obj, "result": {"errors": {"error": [{"message": errors}]}} if errors else {}}
            results.append(result)
        self._send(handler, 200, results)

    def _batch_delete(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        match = body.get("match") or {}
        name = match.get("class")
        if name not in self.classes:
            self._error(handler, 422, f"class {name!r} not found")
            return
        doomed = [i for i, obj in self.objects[name].items() if self._where(obj, match.get("where"))]
        if not body.get("dryRun"):
            for object_id in doomed:
                del self.objects[name][object_id]
        self._send(
            handler,
            200,
            {
                "match": match,
                "output": "minimal",
                "results": {"matches": len(doomed), "successful": len(doomed), "failed": 0, "limit": 10000},
            },
        )

    def _where(self, obj: dict[str, Any], where: dict[str, Any] | None) -> bool:
        if not where:
            return True
        operator = _enum(where.get("operator"))
        if operator in {"And", "Or"}:
            checks = [self._where(obj, o) for o in where.get("operands", [])]
            return all(checks) if operator == "And" else any(checks)
        path = where["path"][0]
        value = obj["id"] if path == "id" else (obj.get("properties") or {}).get(path)
        wanted = next((v for k, v in where.items() if k.startswith("value")), None)
        if operator == "Equal":
            return value is not None and value == wanted and isinstance(value, bool) == isinstance(wanted, bool)
        if operator == "ContainsAny":
            return value in (wanted or [])
        if operator == "Like":
            return value is not None and fnmatch.fnmatchcase(str(value), str(wanted))
        raise ValueError(f"operator {operator} is not in the stand-in")

    def _graphql(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        try:
            tree = _Parser(body["query"]).selection()
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            self._send(handler, 200, {"errors": [{"message": f"syntax error: {exc}"}]})
            return
        data: dict[str, Any] = {}
        for operation, selection in tree.items():
            data[operation] = {}
            for name, spec in (selection["fields"] or {}).items():
                if name not in self.classes:
                    self._send(
                        handler,
                        200,
                        {"errors": [{"message": f'Cannot query field "{name}" on type "{operation}Objects".'}]},
                    )
                    return
                args = spec["args"]
                known = {p["name"] for p in self.classes[name]["properties"]} | {"id"}
                missing = _paths(args.get("where")) - known
                if missing:
                    self._send(
                        handler,
                        200,
                        {
                            "errors": [
                                {"message": f"no such prop with name '{sorted(missing)[0]}' found in class '{name}'"}
                            ]
                        },
                    )
                    return
                found = [o for o in self.objects[name].values() if self._where(o, args.get("where"))]
                if operation == "Aggregate":
                    data[operation][name] = [{"meta": {"count": len(found)}}]
                    continue
                near = (args.get("nearVector") or {}).get("vector")
                rows = []
                for obj in found:
                    distance = None
                    if near is not None:
                        if len(near) != self.dims.get(name, len(near)):
                            self._send(
                                handler,
                                200,
                                {
                                    "errors": [
                                        {"message": f"vector lengths don't match: {len(near)} vs {self.dims[name]}"}
                                    ]
                                },
                            )
                            return
                        dot = sum(a * b for a, b in zip(near, obj["vector"], strict=True))
                        norms = (
                            math.sqrt(sum(a * a for a in near)) * math.sqrt(sum(b * b for b in obj["vector"])) or 1.0
                        )
                        distance = 1 - dot / norms
                    row = {f: obj["properties"].get(f) for f in spec["fields"] if f != "_additional"}
                    row["_additional"] = {"id": obj["id"], "distance": distance}
                    rows.append(row)
                rows.sort(key=lambda r: r["_additional"]["distance"] if r["_additional"]["distance"] is not None else 0)
                data[operation][name] = rows[: int(args.get("limit", 10))]
        self._send(handler, 200, {"data": data})


def _paths(where: dict[str, Any] | None) -> set[str]:
    if not where:
        return set()
    if "operands" in where:
        return set().union(*(_paths(o) for o in where["operands"]))
    return {where["path"][0]}
