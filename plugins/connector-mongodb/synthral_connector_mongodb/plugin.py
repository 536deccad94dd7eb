"""The MongoDB connector: find, insert, update, delete, aggregate, and a document-change trigger.

Inputs and outputs are MongoDB Extended JSON (relaxed): ``{"$oid": "..."}`` is an ObjectId,
``{"$date": "2026-01-02T03:04:05Z"}`` a date, both in filters and in documents. Operators that
run JavaScript on the server (``$where``, ``$function``, ``$accumulator``) are refused, so a
workflow input cannot turn into server-side code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pymongo
import pymongo.errors
import pymongo.uri_parser
from bson import ObjectId, json_util
from bson.errors import BSONError
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pymongo.collection import Collection
from pymongo.database import Database

from synthral_connector_mongodb.sockets import Binding, bound
from synthral_sdk import (
    AuthSpec,
    ConnectionCheck,
    ConnectionStatus,
    Connector,
    Context,
    CredentialField,
    NoConfig,
    Node,
    PollRequest,
    PollResult,
    Trigger,
    hookimpl,
)
from synthral_sdk.errors import ConfigurationError, EgressDenied, NonRetryableError, RetryableError
from synthral_sdk.tcp import sandboxed

__all__ = [
    "Aggregate",
    "DeleteDocuments",
    "DocumentChange",
    "Find",
    "InsertDocuments",
    "MongoDB",
    "UpdateDocuments",
    "synthral_connectors",
    "synthral_triggers",
]

SECRETS = ("uri",)
JAVASCRIPT = frozenset({"$where", "$function", "$accumulator"})
COLLECTION = r"^[^$\x00]{1,255}$"
DATABASE = r"^[^/\\. \"$*<>:|?\x00]{1,63}$"
FIELD = r"^[^$\x00][^\x00]{0,254}$"
Doc = dict[str, Any]
T = TypeVar("T")


def _to_bson(value: Any, field: str) -> Any:
    """Extended JSON in, BSON types out; JavaScript operators refused."""
    for key in _keys(value):
        if key in JAVASCRIPT:
            raise ConfigurationError(
                f"'{field}' uses {key}, which runs JavaScript on the server and is refused; "
                "use $expr or an aggregation stage instead"
            )
    try:
        return json_util.loads(json.dumps(value))
    except (BSONError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"'{field}' is not valid MongoDB Extended JSON: {exc}") from None


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


def _to_json(value: Any) -> Any:
    """BSON types out as relaxed Extended JSON (ObjectId → {"$oid"}, dates → {"$date": ISO})."""
    loaded: Any = json.loads(json_util.dumps(value, json_options=json_util.RELAXED_JSON_OPTIONS))
    return loaded


def _text(value: Any) -> str:
    if isinstance(value, ObjectId | str | int):
        return str(value)
    return json.dumps(_to_json(value), sort_keys=True)


def _uri(context: Context) -> str:
    """The credential's URI, checked.

    Raises:
        ConfigurationError: There is none, it is not a MongoDB URI, or it needs DNS the
            sandbox cannot look up.
    """
    uri = context.secrets.get("uri")
    if not uri:
        raise ConfigurationError(
            "connector 'mongodb' was granted no 'uri'; connect it first (mongodb://user:password@host:27017/database)"
        )
    parts = urlsplit(uri)
    if parts.scheme not in ("mongodb", "mongodb+srv"):
        raise ConfigurationError(
            f"the credential's 'uri' starts with {parts.scheme or 'nothing'!r}; "
            "write it as mongodb://user:password@host:27017/database (or mongodb+srv://)"
        )
    if parts.scheme == "mongodb+srv" and sandboxed():
        raise ConfigurationError(
            "a mongodb+srv:// URI needs DNS SRV and TXT records, which the plugin's OS sandbox cannot look up; use the "
            "standard connection string instead (mongodb://host1:27017,host2:27017,host3:27017/database?"
            "replicaSet=...&tls=true: Atlas shows it under Connect, Drivers)"
        )
    return uri


def _client(context: Context, uri: str, appname: str) -> pymongo.MongoClient[Doc]:
    given = {k.lower() for k in parse_qs(urlsplit(uri).query)}
    timeout_ms = int(min(30.0, context.time_remaining() or 30.0) * 1000)
    options: dict[str, Any] = {
        name: timeout_ms
        for name in ("serverSelectionTimeoutMS", "connectTimeoutMS", "socketTimeoutMS")
        if name.lower() not in given
    }
    try:
        return pymongo.MongoClient(uri, appname=appname, tz_aware=True, connect=False, **options)
    except (pymongo.errors.ConfigurationError, pymongo.errors.InvalidURI, ValueError) as exc:
        raise ConfigurationError(f"the credential's 'uri' is not usable: {exc}") from None


def _precheck(context: Context, uri: str) -> None:
    """Refuse at once when the policy refuses every seed host (else PyMongo would wait out its timeout).

    Raises:
        EgressDenied: The policy refuses each seed host.
    """
    if urlsplit(uri).scheme != "mongodb":
        return
    try:
        seeds = pymongo.uri_parser.parse_uri(uri)["nodelist"]
    except (pymongo.errors.ConfigurationError, pymongo.errors.InvalidURI, ValueError) as exc:
        raise ConfigurationError(f"the credential's 'uri' is not usable: {exc}") from None
    refusal: EgressDenied | None = None
    for host, port in seeds:
        if host.endswith(".sock"):
            refusal = EgressDenied(
                f"{host} is a Unix socket of this machine, which plugins may not reach; use host:port"
            )
            continue
        try:
            context.tcp_connect(host, int(port or 27017), timeout=5.0).close()
        except EgressDenied as denied:
            refusal = denied
        except OSError:
            return  # reachable as far as the policy goes; PyMongo reports what else is wrong
        else:
            return
    if refusal is not None:
        raise refusal


def _database(client: pymongo.MongoClient[Doc], name: str | None) -> Database[Doc]:
    if name:
        return client[name]
    try:
        return client.get_default_database()
    except pymongo.errors.ConfigurationError:
        raise ConfigurationError(
            "no database named: put it in the URI (mongodb://host:27017/database) or in 'database'"
        ) from None


def _run(context: Context, work: Callable[[pymongo.MongoClient[Doc]], T]) -> T:
    uri = _uri(context)
    _precheck(context, uri)
    with bound(context.network) as binding:
        return _work(_client(context, uri, binding.name), work, binding)


def _work(client: pymongo.MongoClient[Doc], work: Callable[[pymongo.MongoClient[Doc]], T], binding: Binding) -> T:
    try:
        return work(client)
    except pymongo.errors.BulkWriteError as exc:
        first = (exc.details.get("writeErrors") or [{}])[0]
        raise NonRetryableError(
            f"MongoDB refused a write: {first.get('errmsg', exc)} (code {first.get('code')}); "
            f"{exc.details.get('nInserted', 0)} documents before it were written",
            details={"code": first.get("code"), "written": exc.details.get("nInserted", 0)},
        ) from None
    except pymongo.errors.OperationFailure as exc:
        if exc.code == 18:
            raise NonRetryableError(
                f"MongoDB refused the credential: {exc.details and exc.details.get('errmsg')}"
            ) from None
        if exc.code == 13:
            raise NonRetryableError(
                f"the credential lacks a role for this: {exc.details and exc.details.get('errmsg')}"
            ) from None
        message = (exc.details or {}).get("errmsg") or str(exc)
        if exc.has_error_label("RetryableWriteError") or exc.has_error_label("TransientTransactionError"):
            raise RetryableError(f"MongoDB: {message} (code {exc.code})") from None
        raise NonRetryableError(
            f"MongoDB refused the operation: {message} (code {exc.code})", details={"code": exc.code}
        ) from None
    except (pymongo.errors.ConnectionFailure, pymongo.errors.ExecutionTimeout, pymongo.errors.WTimeoutError) as exc:
        if binding.refusal is not None:  # a server it went on to (a member the seeds named) is refused
            raise binding.refusal from None
        raise RetryableError(f"could not reach MongoDB: {str(exc).split(', Timeout')[0][:500]}") from None
    except (BSONError, pymongo.errors.InvalidOperation) as exc:
        raise ConfigurationError(f"MongoDB cannot take this input: {exc}") from None
    finally:
        client.close()


class Target(BaseModel):
    """Which collection."""

    model_config = ConfigDict(extra="forbid")

    collection: str = Field(pattern=COLLECTION, description="The collection's name.")
    database: str | None = Field(default=None, pattern=DATABASE, description="Defaults to the URI's database.")


def _collection(client: pymongo.MongoClient[Doc], target: Target) -> Collection[Doc]:
    if target.collection.startswith("system."):
        raise ConfigurationError(f"{target.collection!r} is one of the server's system collections; name another")
    return _database(client, target.database)[target.collection]


class FindInput(Target):
    """A query."""

    filter: dict[str, JsonValue] = Field(default_factory=dict, description="A query document ({} matches all).")
    projection: dict[str, JsonValue] | None = Field(default=None, description="Fields to include (1) or leave out (0).")
    sort: dict[str, int] = Field(default_factory=dict, description="field: 1 (ascending) or -1, in order.")
    skip: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=10_000)


class DocumentsOutput(BaseModel):
    """Documents, as relaxed Extended JSON."""

    documents: list[dict[str, JsonValue]]
    count: int


def _sort(sort: dict[str, int]) -> list[tuple[str, int]]:
    for field, direction in sort.items():
        if direction not in (1, -1):
            raise ConfigurationError(f"'sort' gives {field!r} the direction {direction}; use 1 or -1")
    return list(sort.items())


class Find(Node[FindInput, DocumentsOutput, NoConfig]):
    """Find documents."""

    name = "find"
    secrets = SECRETS

    def run(self, inputs: FindInput, config: NoConfig, context: Context) -> DocumentsOutput:
        """Run the query."""
        query, projection, sort = _to_bson(inputs.filter, "filter"), inputs.projection, _sort(inputs.sort)

        def work(client: pymongo.MongoClient[Doc]) -> list[Doc]:
            cursor = _collection(client, inputs).find(query, projection, skip=inputs.skip, limit=inputs.limit)
            return list(cursor.sort(sort) if sort else cursor)

        documents = _to_json(_run(context, work))
        return DocumentsOutput(documents=documents, count=len(documents))


class InsertInput(Target):
    """Documents to insert."""

    documents: list[dict[str, JsonValue]] = Field(min_length=1, max_length=10_000)


class InsertOutput(BaseModel):
    """The inserted documents' ids."""

    inserted_ids: list[JsonValue]
    count: int


class InsertDocuments(Node[InsertInput, InsertOutput, NoConfig]):
    """Insert documents in order; a refused one stops the rest and names how many went in."""

    name = "insert"
    secrets = SECRETS

    def run(self, inputs: InsertInput, config: NoConfig, context: Context) -> InsertOutput:
        """Insert the documents."""
        documents = [_to_bson(d, "documents") for d in inputs.documents]

        def work(client: pymongo.MongoClient[Doc]) -> list[Any]:
            return list(_collection(client, inputs).insert_many(documents, ordered=True).inserted_ids)

        ids = _to_json(_run(context, work))
        return InsertOutput(inserted_ids=ids, count=len(ids))


class UpdateInput(Target):
    """Which documents and how they change."""

    filter: dict[str, JsonValue] = Field(description="A query document; {} only with 'many' and all_documents.")
    update: dict[str, JsonValue] | list[dict[str, JsonValue]] = Field(
        description='Update operators ({"$set": {...}, "$inc": {...}}) or an aggregation pipeline.'
    )
    many: bool = Field(default=False, description="Update every match, not only the first.")
    upsert: bool = Field(default=False, description="Insert a document when none matches.")
    all_documents: bool = Field(default=False, description="Allow an empty filter with 'many'.")


class UpdateOutput(BaseModel):
    """What the update matched and changed."""

    matched: int
    modified: int
    upserted_id: JsonValue = None


def _guard(filter: dict[str, JsonValue], many: bool, all_documents: bool) -> None:
    if many and not filter and not all_documents:
        raise ConfigurationError(
            "'filter' is empty, which would touch every document; add a filter or set all_documents"
        )


class UpdateDocuments(Node[UpdateInput, UpdateOutput, NoConfig]):
    """Update the first matching document, or every one with 'many'."""

    name = "update"
    secrets = SECRETS

    def run(self, inputs: UpdateInput, config: NoConfig, context: Context) -> UpdateOutput:
        """Apply the update."""
        _guard(inputs.filter, inputs.many, inputs.all_documents)
        query, update = _to_bson(inputs.filter, "filter"), _to_bson(inputs.update, "update")
        if isinstance(update, dict) and (not update or not all(k.startswith("$") for k in update)):
            raise ConfigurationError(
                '\'update\' must use update operators like {"$set": {"status": "done"}} (or be a pipeline); '
                "a plain document would replace the whole match"
            )

        def work(client: pymongo.MongoClient[Doc]) -> UpdateOutput:
            collection = _collection(client, inputs)
            method = collection.update_many if inputs.many else collection.update_one
            result = method(query, update, upsert=inputs.upsert)
            upserted = _to_json(result.upserted_id) if result.upserted_id is not None else None
            return UpdateOutput(matched=result.matched_count, modified=result.modified_count, upserted_id=upserted)

        return _run(context, work)


class DeleteInput(Target):
    """Which documents to delete."""

    filter: dict[str, JsonValue] = Field(description="A query document; {} only with 'many' and all_documents.")
    many: bool = Field(default=False, description="Delete every match, not only the first.")
    all_documents: bool = Field(default=False, description="Allow an empty filter with 'many'.")


class DeleteOutput(BaseModel):
    """How many documents went."""

    deleted: int


class DeleteDocuments(Node[DeleteInput, DeleteOutput, NoConfig]):
    """Delete the first matching document, or every one with 'many'."""

    name = "delete"
    secrets = SECRETS

    def run(self, inputs: DeleteInput, config: NoConfig, context: Context) -> DeleteOutput:
        """Delete the documents."""
        _guard(inputs.filter, inputs.many, inputs.all_documents)
        if not inputs.filter and not inputs.many:
            raise ConfigurationError("'filter' is empty; name the document to delete (or set many and all_documents)")
        query = _to_bson(inputs.filter, "filter")

        def work(client: pymongo.MongoClient[Doc]) -> int:
            collection = _collection(client, inputs)
            result = collection.delete_many(query) if inputs.many else collection.delete_one(query)
            return result.deleted_count

        return DeleteOutput(deleted=_run(context, work))


class AggregateInput(Target):
    """An aggregation pipeline."""

    pipeline: list[dict[str, JsonValue]] = Field(min_length=1, max_length=100)
    limit: int = Field(default=1_000, ge=1, le=10_000, description="At most this many result documents.")


class AggregateOutput(DocumentsOutput):
    """The pipeline's results."""

    truncated: bool = Field(description="True when the pipeline had more results than 'limit'.")


class Aggregate(Node[AggregateInput, AggregateOutput, NoConfig]):
    """Run an aggregation pipeline."""

    name = "aggregate"
    secrets = SECRETS

    def run(self, inputs: AggregateInput, config: NoConfig, context: Context) -> AggregateOutput:
        """Run the pipeline and read up to 'limit' results."""
        pipeline = _to_bson(inputs.pipeline, "pipeline")

        def work(client: pymongo.MongoClient[Doc]) -> tuple[list[Doc], bool]:
            out: list[Doc] = []
            with _collection(client, inputs).aggregate(pipeline, batchSize=min(inputs.limit + 1, 1_000)) as cursor:
                for document in cursor:
                    if len(out) == inputs.limit:
                        return out, True
                    out.append(document)
            return out, False

        documents, truncated = _run(context, work)
        results = _to_json(documents)
        return AggregateOutput(documents=results, count=len(results), truncated=truncated)


class MongoDB(Connector[NoConfig]):
    """MongoDB deployments (standalone, replica set, sharded, Atlas)."""

    name = "mongodb"
    title = "MongoDB"
    auth = AuthSpec(
        type="api_key",
        fields=[
            CredentialField(
                name="uri",
                title="Connection string",
                description="mongodb://user:password@host:27017/database?authSource=admin (or mongodb+srv://)",
            )
        ],
    )
    actions = (Find, InsertDocuments, UpdateDocuments, DeleteDocuments, Aggregate)
    secrets = SECRETS

    def test_connection(self, request: ConnectionCheck, config: NoConfig, context: Context) -> ConnectionStatus:
        """Ping the deployment's default database and read the server's version."""

        def work(client: pymongo.MongoClient[Doc]) -> str:
            database = _database(client, None)
            database.command("ping")
            return str(client.server_info().get("version", "?"))

        try:
            version = _run(context, work)
        except (ConfigurationError, NonRetryableError, RetryableError) as exc:
            return ConnectionStatus(ok=False, message=exc.message)
        return ConnectionStatus(ok=True, message=f"connected to MongoDB {version}")


class DocumentChangeConfig(BaseModel):
    """Which collection to watch and by which growing field."""

    model_config = ConfigDict(extra="forbid")

    collection: str = Field(pattern=COLLECTION)
    database: str | None = Field(default=None, pattern=DATABASE)
    cursor_field: str = Field(
        default="_id",
        pattern=FIELD,
        description="A field that grows on every insert (_id as an ObjectId: new documents) or every change "
        "(an updatedAt date set by every write: new and changed documents).",
    )
    filter: dict[str, JsonValue] = Field(default_factory=dict, description="Only documents matching this query.")
    batch: int = Field(default=100, ge=1, le=1_000)
    backfill: bool = Field(default=False, description="Start from the first document instead of the newest.")


class DocumentChange(Trigger[DocumentChangeConfig]):
    """New (or, with an updatedAt cursor, changed) documents past the cursor, oldest first, each version once.

    The cursor is the pair (cursor field, _id) of the last document emitted, so documents
    sharing a cursor value page through batches without repeats or gaps. Polling works on
    any deployment; change streams would need a replica set.
    """

    name = "document_change"
    secrets = SECRETS

    def poll(self, request: PollRequest, config: DocumentChangeConfig, context: Context) -> PollResult:
        """Fetch the documents past the cursor."""
        field = config.cursor_field
        base = _to_bson(config.filter, "filter")
        order = [(field, 1)] if field == "_id" else [(field, 1), ("_id", 1)]
        state = request.state or {}
        target = Target(collection=config.collection, database=config.database)
        if request.state is None and not config.backfill:

            def newest(client: pymongo.MongoClient[Doc]) -> Doc | None:
                query = {"$and": [base, {field: {"$ne": None}}]}
                return _collection(client, target).find_one(query, sort=[(f, -1) for f, _ in order])

            top = _run(context, newest)
            cursor = _to_json(_dig(top, field)) if top else None
            return PollResult(events=[], state={"cursor": cursor, "key": _to_json(top["_id"]) if top else None})
        cursor, key = _to_bson(state.get("cursor"), "state"), _to_bson(state.get("key"), "state")
        if cursor is None:
            after: Doc = {field: {"$ne": None}}
        elif field == "_id":
            after = {"_id": {"$gt": cursor}}
        else:
            after = {"$or": [{field: {"$gt": cursor}}, {field: cursor, "_id": {"$gt": key}}]}
        query = {"$and": [base, after]} if base else after

        def fetch(client: pymongo.MongoClient[Doc]) -> list[Doc]:
            return list(_collection(client, target).find(query, sort=order, limit=config.batch))

        documents = _run(context, fetch)
        events: list[dict[str, JsonValue]] = []
        for document in documents:
            value = _dig(document, field)
            identity = _text(document["_id"]) if field == "_id" else f"{_text(document['_id'])}@{_text(value)}"
            events.append(
                {
                    "id": identity,
                    "key": _to_json(document["_id"]),
                    "cursor": _to_json(value),
                    "document": _to_json(document),
                }
            )
        if documents:
            last = documents[-1]
            return PollResult(
                events=events, state={"cursor": _to_json(_dig(last, field)), "key": _to_json(last["_id"])}
            )
        return PollResult(events=[], state={"cursor": state.get("cursor"), "key": state.get("key")})


def _dig(document: Doc, path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@hookimpl
def synthral_connectors() -> Sequence[Connector[Any]]:
    """Offer the MongoDB connector (its actions come with it)."""
    return [MongoDB()]


@hookimpl
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Offer the document-change trigger."""
    return [DocumentChange()]
