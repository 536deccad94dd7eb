"""The ``weaviate`` vector store: a Weaviate class per collection, through the REST and GraphQL API.

Classes are named ``Synthral_<collection>``, bring their own vectors (``vectorizer: none``)
and use cosine distance; scores are ``1 - distance``. The record's id, text and whole
metadata (as JSON) are properties; scalar metadata fields are properties too (Weaviate's
auto-schema adds them), which the ``where`` filters use. The vectors' size is kept in the
class description.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from synthral_sdk import (
    Context,
    CountRequest,
    CountResult,
    DeleteRequest,
    DeleteResult,
    QueryMatch,
    QueryRequest,
    QueryResult,
    UpsertRequest,
    UpsertResult,
    VectorStore,
)
from synthral_sdk.errors import InputInvalid, NonRetryableError, RetryableError

__all__ = ["WeaviateConfig", "WeaviateStore", "class_name", "graphql_value", "where_filter"]

logging.getLogger("httpx").setLevel(logging.WARNING)

_ID = "synthral_id"
_TEXT = "synthral_text"
_META = "synthral_meta"
_NAMESPACE = uuid.UUID("0b0c3f5e-8d4a-4f0e-9d1c-6a2b7c8d9e10")
_DIMS = re.compile(r"synthral dims=(\d+)")
_PROPERTY = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
_BATCH = 100


class WeaviateConfig(BaseModel):
    """The Weaviate server."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="The server, e.g. http://weaviate:8080 (the API key is the secret 'api_key').")
    timeout: float = Field(default=30.0, gt=0, le=300)


def class_name(collection: str) -> str:
    """The Weaviate class of a collection (classes start with a capital letter)."""
    return f"Synthral_{collection}"


def graphql_value(value: object) -> str:
    """A GraphQL literal: JSON for strings, numbers, booleans and lists; enums as ``("enum", name)``."""
    if isinstance(value, tuple):
        return str(value[1])
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {graphql_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(graphql_value(v) for v in value) + "]"
    return json.dumps(value)


def _condition(key: str, value: object) -> dict[str, Any]:
    kind = (
        "valueBoolean" if isinstance(value, bool) else "valueNumber" if isinstance(value, int | float) else "valueText"
    )
    return {"path": [key], "operator": ("enum", "Equal"), kind: value}


def where_filter(where: Mapping[str, object] | None) -> dict[str, Any] | None:
    """Weaviate's ``where`` for an equality (any-of for lists) filter."""
    operands: list[dict[str, Any]] = []
    for key, wanted in (where or {}).items():
        if not _PROPERTY.fullmatch(key) or key.startswith("synthral_"):
            raise InputInvalid(
                f"filter field {key!r}: Weaviate filters on properties named with letters, digits and '_' "
                "(not starting with 'synthral_')",
                details={"field": f"filter.{key}"},
            )
        if isinstance(wanted, list):
            operands.append({"operator": ("enum", "Or"), "operands": [_condition(key, v) for v in wanted]})
        else:
            operands.append(_condition(key, wanted))
    if not operands:
        return None
    return operands[0] if len(operands) == 1 else {"operator": ("enum", "And"), "operands": operands}


def _flat(record_id: str, text: str | None, metadata: Mapping[str, object]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        k: v for k, v in metadata.items() if isinstance(v, str | int | float | bool) and _PROPERTY.fullmatch(k)
    }
    properties.update({_ID: record_id, _TEXT: text or "", _META: json.dumps(metadata, separators=(",", ":"))})
    return properties


class _Server:
    def __init__(self, config: WeaviateConfig, context: Context) -> None:
        key = context.secrets.get("api_key")
        self.url = str(config.url).rstrip("/")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = context.http_client_sync(base_url=self.url, timeout=config.timeout, headers=headers)

    def __enter__(self) -> _Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()

    def call(self, method: str, path: str, body: object = None, *, missing_ok: bool = False) -> Any:
        try:
            response = self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise RetryableError(
                f"Weaviate at {self.url} cannot be reached ({type(exc).__name__}); check 'url'"
            ) from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code in {401, 403}:
            raise NonRetryableError("Weaviate refused the request's key; check the granted secret 'api_key'")
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(f"Weaviate answered {response.status_code}; try again later")
        if response.status_code >= 400:
            raise NonRetryableError(f"Weaviate refused the request ({response.status_code}): {response.text[:300]}")
        try:
            return response.json() if response.content else None
        except ValueError:
            raise NonRetryableError(f"{self.url} did not answer like Weaviate; check 'url'") from None

    def graphql(self, query: str) -> dict[str, Any]:
        answer = self.call("POST", "/v1/graphql", {"query": query}) or {}
        if answer.get("errors"):
            raise NonRetryableError(f"Weaviate refused the query: {answer['errors'][0].get('message', '')[:300]}")
        return dict(answer.get("data") or {})

    def schema(self, name: str) -> dict[str, Any] | None:
        found = self.call("GET", f"/v1/schema/{name}", missing_ok=True)
        return found if isinstance(found, dict) else None


def _dims(schema: Mapping[str, Any]) -> int:
    found = _DIMS.search(str(schema.get("description", "")))
    if found is None:
        raise NonRetryableError(f"class {schema.get('class')} was not made by SynthralOS (no 'synthral dims=' in it)")
    return int(found.group(1))


def _unknown_filter_keys(schema: Mapping[str, Any], where: Mapping[str, object] | None) -> bool:
    known = {p.get("name") for p in schema.get("properties", [])}
    return any(key not in known for key in where or {})


class WeaviateStore(VectorStore[WeaviateConfig]):
    """Weaviate: metadata filtering over a server the team runs (or Weaviate Cloud)."""

    name = "weaviate"
    title = "Weaviate"
    features = ("filter", "ann", "remote")
    secrets = ("api_key",)

    def upsert(self, request: UpsertRequest, config: WeaviateConfig, context: Context) -> UpsertResult:
        """Create the class on first write, then batch-import the objects (replacing by id)."""
        if not request.records:
            return UpsertResult(upserted=0)
        records = list({r.id: r for r in request.records}.values())
        name = class_name(request.collection)
        with _Server(config, context) as server:
            schema = server.schema(name)
            dims = self.check_vectors(
                request.collection, [r.vector for r in records], None if schema is None else _dims(schema)
            )
            if schema is None:
                server.call(
                    "POST",
                    "/v1/schema",
                    {
                        "class": name,
                        "description": f"SynthralOS collection {request.collection}; synthral dims={dims}",
                        "vectorizer": "none",
                        "vectorIndexConfig": {"distance": "cosine"},
                        "properties": [
                            {"name": _ID, "dataType": ["text"]},
                            {"name": _TEXT, "dataType": ["text"]},
                            {"name": _META, "dataType": ["text"]},
                        ],
                    },
                )
            for start in range(0, len(records), _BATCH):
                objects = [
                    {
                        "class": name,
                        "id": str(uuid.uuid5(_NAMESPACE, r.id)),
                        "properties": _flat(r.id, r.text, r.metadata),
                        "vector": r.vector,
                    }
                    for r in records[start : start + _BATCH]
                ]
                for result in server.call("POST", "/v1/batch/objects", {"objects": objects}) or []:
                    errors = ((result.get("result") or {}).get("errors") or {}).get("error") or []
                    if errors:
                        raise NonRetryableError(f"Weaviate refused an object: {errors[0].get('message', '')[:300]}")
        return UpsertResult(upserted=len(records))

    def query(self, request: QueryRequest, config: WeaviateConfig, context: Context) -> QueryResult:
        """``nearVector`` with the filter as ``where``."""
        name = class_name(request.collection)
        with _Server(config, context) as server:
            schema = server.schema(name)
            if schema is None:
                return QueryResult(matches=[])
            dims = _dims(schema)
            if len(request.vector) != dims:
                raise self.dimension_error(request.collection, dims, len(request.vector))
            if _unknown_filter_keys(schema, request.filter):
                return QueryResult(matches=[])  # no object has that property, so none equals the value
            args = [f"nearVector: {{vector: {graphql_value(request.vector)}}}", f"limit: {request.top_k}"]
            where = where_filter(request.filter)
            if where:
                args.append(f"where: {graphql_value(where)}")
            query = f"{{ Get {{ {name}({', '.join(args)}) {{ {_ID} {_TEXT} {_META} _additional {{ distance }} }} }} }}"
            rows = server.graphql(query).get("Get", {}).get(name) or []
        return QueryResult(
            matches=[
                QueryMatch(
                    id=row[_ID],
                    score=1.0 - float(row["_additional"]["distance"]),
                    text=row.get(_TEXT),
                    metadata=json.loads(row[_META]) if row.get(_META) else {},
                )
                for row in rows
            ]
        )

    def delete(self, request: DeleteRequest, config: WeaviateConfig, context: Context) -> DeleteResult:
        """Batch delete by a ``where`` on the ids and/or the filter."""
        if request.ids is None and request.filter is None:
            raise InputInvalid("delete needs 'ids' or 'filter'; to empty a collection pass filter {}")
        name = class_name(request.collection)
        with _Server(config, context) as server:
            schema = server.schema(name)
            if schema is None or request.ids == [] or _unknown_filter_keys(schema, request.filter):
                return DeleteResult(deleted=0)
            operands = []
            if request.ids is not None:
                operands.append({"path": [_ID], "operator": ("enum", "ContainsAny"), "valueTextArray": request.ids})
            where = where_filter(request.filter)
            if where:
                operands.append(where)
            if not operands:  # filter {}: everything
                operands.append({"path": [_ID], "operator": ("enum", "Like"), "valueText": "*"})
            clause = operands[0] if len(operands) == 1 else {"operator": ("enum", "And"), "operands": operands}
            answer = server.call(
                "DELETE",
                "/v1/batch/objects",
                {"match": {"class": name, "where": _plain(clause)}, "output": "minimal", "dryRun": False},
            )
        return DeleteResult(deleted=int((answer or {}).get("results", {}).get("successful", 0)))

    def count(self, request: CountRequest, config: WeaviateConfig, context: Context) -> CountResult:
        """``Aggregate { meta { count } }`` with the filter."""
        name = class_name(request.collection)
        with _Server(config, context) as server:
            schema = server.schema(name)
            if schema is None:
                return CountResult(count=0)
            dims = _dims(schema)
            if _unknown_filter_keys(schema, request.filter):
                return CountResult(count=0, dimensions=dims)
            where = where_filter(request.filter)
            args = f"(where: {graphql_value(where)})" if where else ""
            data = server.graphql(f"{{ Aggregate {{ {name}{args} {{ meta {{ count }} }} }} }}")
        rows = data.get("Aggregate", {}).get(name) or [{"meta": {"count": 0}}]
        return CountResult(count=int(rows[0]["meta"]["count"]), dimensions=dims)


def _plain(value: object) -> object:
    """The REST (JSON) form of a filter: enums as strings."""
    if isinstance(value, tuple):
        return value[1]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
