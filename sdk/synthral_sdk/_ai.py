"""AI capabilities: embedders, vector stores, LLM providers and agent frameworks."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Mapping
from typing import ClassVar, Final, Generic, Literal, final

import orjson
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk._capability import Capability, CapabilityKind, Operation
from synthral_sdk._json import JSONObject
from synthral_sdk._typevars import ConfigT
from synthral_sdk.context import Context
from synthral_sdk.errors import InputInvalid, NonRetryableError
from synthral_sdk.types import BlobRef
from synthral_sdk.vectors import Vector

__all__ = [
    "TOKEN_EVENT",
    "AgentBudget",
    "AgentFramework",
    "AgentRequest",
    "AgentResult",
    "AgentRole",
    "AgentStep",
    "ChatMessage",
    "CompletionRequest",
    "CompletionResult",
    "ContentPart",
    "CountRequest",
    "CountResult",
    "DeleteRequest",
    "DeleteResult",
    "EmbedRequest",
    "EmbedResult",
    "Embedder",
    "LLMProvider",
    "QueryMatch",
    "QueryRequest",
    "QueryResult",
    "ResponseFormat",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "UpsertRequest",
    "UpsertResult",
    "Usage",
    "VectorRecord",
    "VectorStore",
]


# -- embedders ---------------------------------------------------------------------------


class EmbedRequest(BaseModel):
    """Texts to embed.

    .. versionchanged:: 1.11 ``vector_encoding``; an embedder's author need not read it: the
       SDK writes the answer packed when it is ``'f32'``.
    """

    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(min_length=1)
    purpose: Literal["document", "query"] = Field(
        default="document", description="Some models embed queries and documents differently."
    )
    vector_encoding: Literal["json", "f32"] = Field(
        default="json",
        description="How the answer writes each vector: 'json', an array of numbers; 'f32', packed float32 "
        "('f32:' + base64, see synthral_sdk.vectors), a quarter the size and read without parsing decimals.",
    )


class EmbedResult(BaseModel):
    """One vector per input text, in order."""

    model: str
    dimensions: int
    vectors: list[Vector]


class Embedder(Capability, Generic[ConfigT]):
    """Turns text into vectors. Implement :meth:`embed`."""

    kind: ClassVar[CapabilityKind] = CapabilityKind.EMBEDDER
    category: ClassVar[str] = "AI"

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {"embed": Operation("embed", "embed", EmbedRequest, EmbedResult, "Embed texts.")}

    @abc.abstractmethod
    def embed(self, request: EmbedRequest, config: ConfigT, context: Context) -> EmbedResult | Awaitable[EmbedResult]:
        """Return one vector per text, in the order given."""


# -- vector stores -----------------------------------------------------------------------

FilterValue = str | int | float | bool | list[str | int | float | bool]


class VectorRecord(BaseModel):
    """One stored vector with its text and metadata."""

    id: str = Field(min_length=1, max_length=512)
    vector: Vector = Field(min_length=1, description="An array of numbers, or packed float32 (synthral_sdk.vectors).")
    text: str | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)


class UpsertRequest(BaseModel):
    """Records to insert or replace, by id."""

    model_config = ConfigDict(extra="forbid")

    collection: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    records: list[VectorRecord]


class UpsertResult(BaseModel):
    """How many records were written."""

    upserted: int


class QueryRequest(BaseModel):
    """A nearest-neighbour query, optionally fused with full-text search.

    ``filter`` keeps the records whose metadata field equals the value (or, for a list, any
    of its values); several fields must all match. ``mode='hybrid'`` also ranks by the
    words of ``text`` on stores whose catalog entry lists the ``hybrid`` feature.
    """

    model_config = ConfigDict(extra="forbid")

    collection: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    vector: Vector = Field(min_length=1, description="An array of numbers, or packed float32 (synthral_sdk.vectors).")
    top_k: int = Field(default=5, ge=1, le=1000)
    filter: dict[str, FilterValue] | None = Field(
        default=None, description="Equality filter on metadata fields: {'lang': 'en', 'tag': ['a', 'b']}."
    )
    text: str | None = Field(default=None, description="The query's words, for hybrid search and graph stores.")
    mode: Literal["vector", "hybrid"] = Field(
        default="vector", description="'hybrid' fuses full-text and vector ranking (needs 'text')."
    )


class QueryMatch(BaseModel):
    """One hit, best first."""

    id: str
    score: float = Field(description="Similarity; higher is closer.")
    text: str | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)


class QueryResult(BaseModel):
    """The hits of a query."""

    matches: list[QueryMatch]


class DeleteRequest(BaseModel):
    """Records to delete, by id or by metadata filter."""

    model_config = ConfigDict(extra="forbid")

    collection: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    ids: list[str] | None = None
    filter: dict[str, FilterValue] | None = None


class DeleteResult(BaseModel):
    """How many records were deleted."""

    deleted: int


class CountRequest(BaseModel):
    """How many records a collection holds (matching ``filter``, when given)."""

    model_config = ConfigDict(extra="forbid")

    collection: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    filter: dict[str, FilterValue] | None = None


class CountResult(BaseModel):
    """A collection's size and vector dimensions (``None`` while it holds nothing)."""

    count: int
    dimensions: int | None = None


class VectorStore(Capability, Generic[ConfigT]):
    """A vector database. Implement :meth:`upsert`, :meth:`query` and :meth:`delete`.

    Scores are similarities (higher is closer; cosine for the first-party stores). A
    collection takes the dimensions of its first records; a later upsert or query with other
    dimensions must fail with :meth:`dimension_error`. Querying a collection that does not
    exist returns no matches. Implement :meth:`count` too (the conformance suite and the
    host's router use it).

    Class attributes:
        features: What the store can do beyond vector search, listed in its catalog entry:
            ``"filter"`` (metadata filters), ``"hybrid"`` (full-text + vector), ``"ann"``
            (an approximate index), ``"graph"`` (a knowledge graph), ``"memory"`` (long-term
            memory that rewrites what it stores), ``"remote"`` (a hosted service).

    .. versionchanged:: 1.4 ``count``, ``features``, ``QueryRequest.text`` and ``mode``.
    """

    kind: ClassVar[CapabilityKind] = CapabilityKind.VECTOR_STORE
    category: ClassVar[str] = "AI"
    features: ClassVar[tuple[str, ...]] = ("filter",)

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {
            "upsert": Operation("upsert", "upsert", UpsertRequest, UpsertResult, "Insert or replace records."),
            "query": Operation("query", "query", QueryRequest, QueryResult, "Find the nearest records."),
            "delete": Operation("delete", "delete", DeleteRequest, DeleteResult, "Delete records."),
            "count": Operation("count", "count", CountRequest, CountResult, "Count a collection's records."),
        }

    def extra(self) -> JSONObject:
        return {"features": list(self.features)}

    @abc.abstractmethod
    def upsert(
        self, request: UpsertRequest, config: ConfigT, context: Context
    ) -> UpsertResult | Awaitable[UpsertResult]:
        """Insert the records, replacing any with the same id."""

    @abc.abstractmethod
    def query(self, request: QueryRequest, config: ConfigT, context: Context) -> QueryResult | Awaitable[QueryResult]:
        """Return the ``top_k`` records closest to the vector, best first."""

    @abc.abstractmethod
    def delete(
        self, request: DeleteRequest, config: ConfigT, context: Context
    ) -> DeleteResult | Awaitable[DeleteResult]:
        """Delete the records matching ``ids`` or ``filter``."""

    def count(self, request: CountRequest, config: ConfigT, context: Context) -> CountResult | Awaitable[CountResult]:
        """Return how many records the collection holds; stores should override this."""
        del request, config, context
        raise NonRetryableError(f"vector store '{self.name}' cannot count its records; its author must add count()")

    @final
    @staticmethod
    def dimension_error(collection: str, expected: int, got: int) -> InputInvalid:
        """The error for vectors whose length differs from the collection's."""
        return InputInvalid(
            f"collection '{collection}' holds {expected}-dimensional vectors but this request has {got} "
            "dimensions; embed with the model the collection was built with, or use a new collection",
            details={"collection": collection, "expected": expected, "got": got},
        )

    @final
    @staticmethod
    def check_vectors(collection: str, vectors: list[list[float]], expected: int | None = None) -> int:
        """Check that every vector has the same length (``expected`` when given); return it."""
        if not vectors:
            return expected or 0
        size = expected if expected is not None else len(vectors[0])
        for vector in vectors:
            if len(vector) != size:
                raise VectorStore.dimension_error(collection, size, len(vector))
        return size

    @final
    @staticmethod
    def filter_matches(metadata: Mapping[str, object], where: Mapping[str, FilterValue] | None) -> bool:
        """Whether ``metadata`` satisfies an equality filter (a list value means any of)."""
        for key, wanted in (where or {}).items():
            if key not in metadata:
                return False
            value = metadata[key]
            if isinstance(wanted, list):
                if value not in wanted:
                    return False
            elif value != wanted or isinstance(value, bool) != isinstance(wanted, bool):
                return False
        return True


# -- LLM providers -----------------------------------------------------------------------


class ToolSpec(BaseModel):
    """A tool the model may call."""

    name: str
    description: str = ""
    parameters: dict[str, JsonValue] = Field(default_factory=dict, description="JSON Schema of the arguments.")


class ToolCall(BaseModel):
    """A call of a tool the model asked for."""

    id: str
    name: str
    arguments: dict[str, JsonValue] = Field(default_factory=dict)


class ContentPart(BaseModel):
    """A part of a message beyond its text: an image (vision input) read from the blob store.

    .. versionadded:: 1.2
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "image"]
    text: str = ""
    image: BlobRef | None = Field(default=None, description="For 'image' parts: the picture, as a blob reference.")
    detail: Literal["auto", "low", "high"] = "auto"


class ChatMessage(BaseModel):
    """One message of a conversation.

    ``content`` is the text; ``parts`` (1.2) add images. A ``tool`` message answers the
    call ``tool_call_id`` of the tool ``name``.
    """

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = Field(default=None, description="For 'tool' messages: the tool that answered (1.2).")
    parts: list[ContentPart] = Field(default_factory=list, description="Images and more text after 'content' (1.2).")


class Usage(BaseModel):
    """Tokens used."""

    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens, output_tokens=self.output_tokens + other.output_tokens
        )


class ResponseFormat(BaseModel):
    """Structured output: the answer must be JSON, optionally valid against a JSON Schema.

    .. versionadded:: 1.2
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["json_object", "json_schema"] = "json_schema"
    name: str = Field(default="answer", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    json_schema: dict[str, JsonValue] | None = Field(default=None, description="The schema for 'json_schema'.")
    strict: bool = True


class CompletionRequest(BaseModel):
    """A chat completion request."""

    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ToolSpec] = Field(default_factory=list)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: list[str] = Field(default_factory=list)
    tool_choice: str | None = Field(
        default=None, description="'auto', 'none', 'required' or a tool's name; unset: the provider's default (1.2)."
    )
    response_format: ResponseFormat | None = Field(default=None, description="Ask for JSON output (1.2).")
    stream: bool = Field(
        default=False,
        description="Stream the answer: the provider emits 'llm.token' events as text arrives (1.2).",
    )


class CompletionResult(BaseModel):
    """The model's answer."""

    model: str
    message: ChatMessage
    finish_reason: Literal["stop", "length", "tool_calls", "content_filter", "error"] = "stop"
    usage: Usage = Field(default_factory=Usage)
    parsed: JsonValue = Field(default=None, description="With a response_format: the answer parsed as JSON (1.2).")
    latency_ms: float | None = Field(default=None, description="Time the provider took, retries included (1.2).")
    attempts: int = Field(default=1, ge=1, description="HTTP attempts made, retries included (1.2).")


TOKEN_EVENT: Final = "llm.token"  # noqa: S105 -- an event name, not a password
"""The event a streaming provider emits per piece of text: ``{"text": "..."}`` (1.2)."""


class LLMProvider(Capability, Generic[ConfigT]):
    """A large language model API. Implement :meth:`complete`.

    When ``request.stream`` is set and the API streams, emit each piece of text as it comes
    with ``context.emit(TOKEN_EVENT, {"text": piece})``; the host shows it live.
    """

    kind: ClassVar[CapabilityKind] = CapabilityKind.LLM_PROVIDER
    category: ClassVar[str] = "AI"

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {"complete": Operation("complete", "complete", CompletionRequest, CompletionResult, "Complete a chat.")}

    @abc.abstractmethod
    def complete(
        self, request: CompletionRequest, config: ConfigT, context: Context
    ) -> CompletionResult | Awaitable[CompletionResult]:
        """Return the model's next message."""


# -- agent frameworks --------------------------------------------------------------------


class AgentRole(BaseModel):
    """One member of a multi-agent team (CrewAI, MetaGPT, AutoGen teams).

    .. versionadded:: 1.2
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    goal: str = ""
    instructions: str = Field(default="", description="Who this member is and how it works (a backstory).")


class AgentBudget(BaseModel):
    """What an agent task may spend; the host enforces it, the framework may read it.

    .. versionadded:: 1.2
    """

    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(default=20, ge=1, le=10_000, description="LLM calls plus tool calls.")
    max_tokens: int | None = Field(default=None, ge=1, description="Input plus output tokens over all LLM calls.")
    max_cost_usd: float | None = Field(default=None, ge=0, description="Cost over all LLM calls, by the price table.")
    max_seconds: float | None = Field(default=None, gt=0, description="Wall time of the whole task.")


class AgentRequest(BaseModel):
    """A task for an agent."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="What the agent should achieve, in plain words.")
    model: str | None = Field(default=None, description="The model name the host's LLM gateway is asked for.")
    tools: list[ToolSpec] = Field(default_factory=list)
    inputs: dict[str, JsonValue] = Field(default_factory=dict)
    max_steps: int = Field(default=10, ge=1, le=1000)
    instructions: str = Field(default="", description="A system prompt for the agent (1.2).")
    roles: list[AgentRole] = Field(default_factory=list, description="Team members, for multi-role frameworks (1.2).")
    output_schema: dict[str, JsonValue] | None = Field(
        default=None, description="When set, the final answer must be JSON valid against it (1.2)."
    )
    budget: AgentBudget = Field(default_factory=AgentBudget, description="What the task may spend (1.2).")
    options: dict[str, JsonValue] = Field(default_factory=dict, description="Framework-specific settings (1.2).")


class AgentStep(BaseModel):
    """One step of the agent's work, for the execution history."""

    kind: Literal["thought", "tool_call", "tool_result", "message", "plan", "check"]
    content: str
    data: dict[str, JsonValue] = Field(default_factory=dict)


class AgentResult(BaseModel):
    """What the agent produced."""

    output: str
    steps: list[AgentStep] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    data: JsonValue = Field(default=None, description="The final answer parsed as JSON, with output_schema (1.2).")


class ToolResult(BaseModel):
    """What the host answers a tool call with.

    ``ok`` false means the tool failed or was refused (not granted, unknown, bad
    arguments); ``error`` says why in words the model can act on. ``replayed`` marks a
    result recorded by an earlier attempt of the task and returned without running the
    tool again.

    .. versionadded:: 1.2
    """

    call_id: str
    name: str
    ok: bool = True
    output: JsonValue = None
    error: str | None = None
    replayed: bool = False

    def as_text(self) -> str:
        """The result as text for a model: the JSON output, or the error."""
        if not self.ok:
            return f"ERROR: {self.error}"
        if isinstance(self.output, str):
            return self.output
        return orjson.dumps(self.output).decode()


class AgentFramework(Capability, Generic[ConfigT]):
    """An agent framework (LangGraph, CrewAI, AutoGen...). Implement :meth:`run_agent`.

    The framework never runs a tool or reaches an LLM itself: it asks the host through
    ``context.host`` (``call_tool``, ``complete``) or points its own OpenAI client at
    :func:`synthral_sdk.agents.openai_gateway`. The host enforces the grants and budgets.

    Class attributes an author sets (1.2):
        framework: The framework's package, e.g. ``"langgraph"``.
        styles: What it is good at, for the agent router: ``"tool_calling"``, ``"simple"``,
            ``"recursive"``, ``"multi_role"``, ``"self_fix"``, ``"belief_goal"``.
    """

    kind: ClassVar[CapabilityKind] = CapabilityKind.AGENT_FRAMEWORK
    framework: ClassVar[str] = ""
    styles: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[str] = "AI"

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {"run_agent": Operation("run_agent", "run_agent", AgentRequest, AgentResult, "Run an agent task.")}

    def extra(self) -> JSONObject:
        """The framework and its styles, for the router and the catalog."""
        return {"framework": self.framework or self.name, "styles": list(self.styles)}

    @abc.abstractmethod
    def run_agent(
        self, request: AgentRequest, config: ConfigT, context: Context
    ) -> AgentResult | Awaitable[AgentResult]:
        """Work on the task until done or ``max_steps``; return the result and the steps."""
