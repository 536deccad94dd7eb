"""Connector benchmarks: the REST runtime's overhead over raw httpx, and OpenAPI import speed.

The overhead is measured in one run against one local stand-in: a declared action called the
way the runner calls it (``Capability.call``: input checked, request built, answer selected,
output validated) versus the same GET sent with a kept-alive ``httpx.Client``. The import is
timed on a generated 500-operation document and on Discord's published one (239 operations).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import Result
from synthral.services.connector_openapi import import_openapi
from synthral_sdk import BlobStore, Context
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.rest import DeclaredPlugin
from synthral_sdk.testing_rest import BearerAuth, Reply, StandIn

GROUP = "connectors"
REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "tests" / "fixtures" / "openapi"


def _spec(operations: int) -> dict[str, Any]:
    string = {"type": "string"}
    thing = {"type": "object", "properties": {"id": string, "name": string, "tags": {"type": "array", "items": string}}}
    path_id = {"name": "id", "in": "path", "required": True, "schema": string}
    listed = {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}, "next_cursor": string}
    answer = {"content": {"application/json": {"schema": {"type": "object", "properties": listed}}}}
    body = {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
    paths: dict[str, Any] = {}
    for n in range(operations // 2):
        paths[f"/things{n}/{{id}}"] = {
            "get": {
                "operationId": f"getThing{n}",
                "tags": [f"t{n % 10}"],
                "parameters": [path_id, {"name": "cursor", "in": "query", "schema": string}],
                "responses": {"200": {"description": "ok", **answer}},
            },
            "put": {
                "operationId": f"putThing{n}",
                "parameters": [path_id],
                "requestBody": body,
                "responses": {"200": {"description": "ok"}},
            },
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Big", "version": "1"},
        "servers": [{"url": "https://big.example"}],
        "paths": paths,
        "components": {"schemas": {"Thing": thing}, "securitySchemes": {"k": {"type": "http", "scheme": "bearer"}}},
        "security": [{"k": []}],
    }


def _definition(folder: Path) -> DeclaredPlugin:
    folder.mkdir()
    app = {
        "name": "BENCH",
        "display_name": "Bench",
        "version": "1.0.0",
        "server_url": "http://unused",
        "security_schemes": {"http_bearer": {}},
    }
    path = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    fn = {
        "name": "BENCH__GET_ITEM",
        "protocol_data": {"method": "GET", "path": "/items/{id}"},
        "parameters": {"type": "object", "properties": {"path": path}, "required": ["path"]},
    }
    (folder / "app.json").write_text(json.dumps(app))
    (folder / "functions.json").write_text(json.dumps([fn]))
    return DeclaredPlugin(folder)


async def _overhead(n: int, scratch: Path) -> list[Result]:
    api = StandIn(auth=BearerAuth("t"))
    api.route("GET", "/items/{id}")(lambda request: Reply(200, {"id": request.params["id"], "name": "x"}))
    action = _definition(scratch / "def").action("get_item")
    with api:
        config = {"base_url": api.url}
        # The stand-in is on this machine: the local policy allows loopback, still checked per connection.
        context = Context(blobs=BlobStore(scratch / "blobs"), secrets={"api_key": "t"}, network=NetworkPolicy.local())
        raw_client = httpx.Client()
        runtime: list[float] = []
        raw: list[float] = []
        for i in range(n + 50):  # interleaved, so both see the same machine; the first 50 warm up
            started = time.perf_counter()
            await action.call("run", config, {"path": {"id": str(i)}}, context)
            middle = time.perf_counter()
            await asyncio.to_thread(
                lambda i=i: raw_client.get(f"{api.url}/items/{i}", headers={"Authorization": "Bearer t"}).json()
            )
            ended = time.perf_counter()
            if i >= 50:
                runtime.append(middle - started)
                raw.append(ended - middle)
            api.requests.clear()
        await asyncio.to_thread(raw_client.close)
    declared, direct = statistics.median(runtime) * 1000, statistics.median(raw) * 1000
    return [
        Result(GROUP, "Declared action call, p50 (in process, through Capability.call)", declared, "ms"),
        Result(GROUP, "Raw httpx GET to the same stand-in, p50, same run", direct, "ms"),
        Result(
            GROUP, "Runtime overhead over raw httpx, p50", declared - direct, "ms", "≤ 3 ms", declared - direct <= 3.0
        ),
    ]


def _imports(scratch: Path) -> list[Result]:
    big = scratch / "big.json"
    big.write_text(json.dumps(_spec(500)))
    started = time.perf_counter()
    result = import_openapi(big, scratch / "big-out")
    elapsed = time.perf_counter() - started
    discord = scratch / "discord.json"
    discord.write_bytes(gzip.decompress((SPECS / "discord.json.gz").read_bytes()))
    started = time.perf_counter()
    real = import_openapi(discord, scratch / "discord-out", name="discord")
    real_elapsed = time.perf_counter() - started
    return [
        Result(
            GROUP,
            f"OpenAPI import, generated document, {len(result.functions)} operations",
            elapsed,
            "s",
            "≤ 5 s",
            elapsed <= 5.0,
        ),
        Result(
            GROUP, f"OpenAPI import, Discord's published document, {len(real.functions)} operations", real_elapsed, "s"
        ),
    ]


async def run(quick: bool) -> list[Result]:
    """Every connector figure."""
    with tempfile.TemporaryDirectory(prefix="bench-connectors-") as scratch:
        results = await _overhead(100 if quick else 1000, Path(scratch))
        results += await asyncio.to_thread(_imports, Path(scratch))
    return results
