"""A local stand-in for a Pinecone index's data plane (REST, API version 2025-01), in memory.

Standard library only. One index of a fixed dimension and metric cosine; namespaces,
metadata filters ($eq, $ne, $in, $nin, $gt/$gte/$lt/$lte, $and, $or), the documented error
bodies, and the Api-Key header.
"""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def _matches(metadata: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    for key, condition in (flt or {}).items():
        if key == "$and":
            if not all(_matches(metadata, c) for c in condition):
                return False
            continue
        if key == "$or":
            if not any(_matches(metadata, c) for c in condition):
                return False
            continue
        ops = condition if isinstance(condition, dict) else {"$eq": condition}
        value = metadata.get(key)
        for op, wanted in ops.items():
            ok = {
                "$eq": lambda v, w: v == w,
                "$ne": lambda v, w: v != w,
                "$in": lambda v, w: v in w,
                "$nin": lambda v, w: v not in w,
                "$gt": lambda v, w: v is not None and v > w,
                "$gte": lambda v, w: v is not None and v >= w,
                "$lt": lambda v, w: v is not None and v < w,
                "$lte": lambda v, w: v is not None and v <= w,
            }[op](value, wanted)
            if not ok:
                return False
    return True


class PineconeStandIn:
    """Serve one index on 127.0.0.1 (a context manager); ``host`` is its URL."""

    def __init__(self, *, dimension: int, api_key: str = "pc-test") -> None:
        self.dimension = dimension
        self.api_key = api_key
        self.namespaces: dict[str, dict[str, dict[str, Any]]] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                del args

            def do_GET(self) -> None:
                standin._handle(self, "GET")

            def do_POST(self) -> None:
                standin._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PineconeStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _bad(self, handler: BaseHTTPRequestHandler, message: str) -> None:
        self._send(handler, 400, {"code": 3, "message": message, "details": []})

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        self.requests.append(f"{method} {parts.path}")
        if handler.headers.get("Api-Key") != self.api_key:
            handler.send_response(401)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        body: dict[str, Any] = {}
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            body = json.loads(handler.rfile.read(length) or b"{}")
        with self._lock:
            route = {
                ("POST", "/vectors/upsert"): self._upsert,
                ("POST", "/query"): self._query,
                ("POST", "/vectors/delete"): self._delete,
                ("POST", "/describe_index_stats"): self._stats,
                ("GET", "/vectors/fetch"): lambda h, b: self._fetch(h, parse_qs(parts.query)),
            }.get((method, parts.path))
            if route is None:
                self._send(handler, 404, {"code": 5, "message": f"Not found: {parts.path}", "details": []})
                return
            route(handler, body)

    def _upsert(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        vectors = body.get("vectors") or []
        if len(vectors) > 1000:
            self._bad(handler, "Request contains more than the maximum of 1000 vectors")
            return
        for vector in vectors:
            if len(vector["values"]) != self.dimension:
                self._bad(
                    handler,
                    f"Vector dimension {len(vector['values'])} does not match "
                    f"the dimension of the index {self.dimension}",
                )
                return
            for value in (vector.get("metadata") or {}).values():
                if isinstance(value, dict) or (isinstance(value, list) and not all(isinstance(v, str) for v in value)):
                    self._bad(handler, "Metadata value must be a string, number, boolean or list of strings")
                    return
        space = self.namespaces.setdefault(body.get("namespace", ""), {})
        for vector in vectors:
            space[vector["id"]] = {
                "id": vector["id"],
                "values": vector["values"],
                "metadata": vector.get("metadata") or {},
            }
        self._send(handler, 200, {"upsertedCount": len(vectors)})

    def _query(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        vector = body.get("vector") or []
        if len(vector) != self.dimension:
            self._bad(
                handler,
                f"Query vector dimension {len(vector)} does not match the dimension of the index {self.dimension}",
            )
            return
        top_k = int(body.get("topK", 10))
        if not 1 <= top_k <= 10000:
            self._bad(handler, "topK must be between 1 and 10000")
            return
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        scored = []
        for item in self.namespaces.get(body.get("namespace", ""), {}).values():
            if not _matches(item["metadata"], body.get("filter")):
                continue
            other = math.sqrt(sum(x * x for x in item["values"])) or 1.0
            score = sum(a * b for a, b in zip(vector, item["values"], strict=True)) / (norm * other)
            scored.append((score, item))
        scored.sort(key=lambda pair: -pair[0])
        matches = []
        for score, item in scored[:top_k]:
            match: dict[str, Any] = {"id": item["id"], "score": score}
            if body.get("includeMetadata"):
                match["metadata"] = item["metadata"]
            if body.get("includeValues"):
                match["values"] = item["values"]
            matches.append(match)
        self._send(
            handler, 200, {"matches": matches, "namespace": body.get("namespace", ""), "usage": {"readUnits": 1}}
        )

    def _delete(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        space = self.namespaces.get(body.get("namespace", ""), {})
        if body.get("deleteAll"):
            space.clear()
        elif body.get("ids") is not None:
            for record_id in body["ids"]:
                space.pop(record_id, None)
        elif body.get("filter") is not None:
            for record_id in [k for k, v in space.items() if _matches(v["metadata"], body["filter"])]:
                del space[record_id]
        else:
            self._bad(handler, "Exactly one of ids, deleteAll, filter must be given")
            return
        self._send(handler, 200, {})

    def _stats(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        del body
        namespaces = {name: {"vectorCount": len(items)} for name, items in self.namespaces.items() if items}
        total = sum(ns["vectorCount"] for ns in namespaces.values())
        self._send(
            handler,
            200,
            {
                "namespaces": namespaces,
                "dimension": self.dimension,
                "indexFullness": 0.0,
                "totalVectorCount": total,
                "metric": "cosine",
            },
        )

    def _fetch(self, handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        namespace = (query.get("namespace") or [""])[0]
        space = self.namespaces.get(namespace, {})
        found = {i: space[i] for i in query.get("ids", []) if i in space}
        self._send(handler, 200, {"vectors": found, "namespace": namespace, "usage": {"readUnits": 1}})
