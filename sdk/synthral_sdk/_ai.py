"""AI capabilities: embedders, vector stores, LLM providers and agent frameworks."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Mapping
from typing import ClassVar, Generic, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk._capability import Capability, CapabilityKind, Operation
from synthral_sdk._typevars import ConfigT
from synthral_sdk.context import Context

__all__ = [
    "AgentFramework",
    "AgentRequest",
    "AgentResult",
    "AgentStep",
    "ChatMessage",
    "CompletionRequest",
    "CompletionResult",
    "DeleteRequest",
    "DeleteResult",
    "EmbedRequest",
    "EmbedResult",
    "Embedder",
    "LLMProvider",
    "QueryMatch",
    "QueryRequest",
    "QueryResult",
    "ToolCall",
    "ToolSpec",
    "UpsertRequest",
    "UpsertResult",
    "Usage",
    "VectorRecord",
    "VectorStore",
]


# -- embedders ---------------------------------------------------------------------------


class EmbedRequest(BaseModel):
    """Texts to embed."""

    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(min_length=1)
    purpose: Literal["document", "query"] = Field(
        default="document", description="Some models embed queries and documents differently."
    )


class EmbedResult(BaseModel):
    """One vector per input text, in order."""

    model: str
    dimensions: int
    vectors: list[list[float]]


class Embedder(Capability, Generic[ConfigT]):
    """Turns text into vectors. Implement :meth:`embed`."""

    kind: ClassVar[CapabilityKind] = CapabilityKind.EMBEDDER

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {"embed": Operation("embed", "embed", EmbedRequest, EmbedResult, "Embed texts.")}

    @abc.abstractmethod
    def embed(self, request: EmbedRequest, config: ConfigT, context: Context) -> EmbedResult | Awaitable[EmbedResult]:
        """Return one vector per text, in the order given."""


# -- vector stores -----------------------------------------------------------------------


class VectorRecord(BaseModel):
    """One stored vector with its text and metadata."""

    id: str
    vector: list[float]
    text: str | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)


class UpsertRequest(BaseModel):
    """Records to insert or replace, by id."""

    model_config = ConfigDict(extra="forbid")

    collection: str
    records: list[VectorRecord]


class UpsertResult(BaseModel):
    """How many records were written."""

    upserted: int


class QueryRequest(BaseModel):
    """A nearest-neighbour query."""

    model_config = ConfigDict(extra="forbid")

    collection: str
    vector: list[float]
    top_k: int = Field(default=5, ge=1, le=1000)
    filter: dict[str, JsonValue] | None = Field(
        default=None, description="Equality filter on metadata fields: {'lang': 'en'}."
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

    collection: str
    ids: list[str] | None = None
    filter: dict[str, JsonValue] | None = None


class DeleteResult(BaseModel):
    """How many records were deleted."""

    deleted: int


class VectorStore(Capability, Generic[ConfigT]):
    """A vector database. Implement :meth:`upsert`, :meth:`query` and :meth:`delete`."""

    kind: ClassVar[CapabilityKind] = CapabilityKind.VECTOR_STORE

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {
            "upsert": Operation("upsert", "upsert", UpsertRequest, UpsertResult, "Insert or replace records."),
            "query": Operation("query", "query", QueryRequest, QueryResult, "Find the nearest records."),
            "delete": Operation("delete", "delete", DeleteRequest, DeleteResult, "Delete records."),
        }

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


class ChatMessage(BaseModel):
    """One message of a conversation."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None


class Usage(BaseModel):
    """Tokens used."""

    input_tokens: int = 0
    output_tokens: int = 0


class CompletionRequest(BaseModel):
    """A chat completion request."""

    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ToolSpec] = Field(default_factory=list)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: list[str] = Field(default_factory=list)


class CompletionResult(BaseModel):
    """The model's answer."""

    model: str
    message: ChatMessage
    finish_reason: Literal["stop", "length", "tool_calls", "content_filter", "error"] = "stop"
    usage: Usage = Field(default_factory=Usage)


class LLMProvider(Capability, Generic[ConfigT]):
    """A large language model API. Implement :meth:`complete`.

    Stream partial text with ``context.report_progress(None, chunk)`` if the API streams.
    """

    kind: ClassVar[CapabilityKind] = CapabilityKind.LLM_PROVIDER

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {"complete": Operation("complete", "complete", CompletionRequest, CompletionResult, "Complete a chat.")}

    @abc.abstractmethod
    def complete(
        self, request: CompletionRequest, config: ConfigT, context: Context
    ) -> CompletionResult | Awaitable[CompletionResult]:
        """Return the model's next message."""


# -- agent frameworks --------------------------------------------------------------------


class AgentRequest(BaseModel):
    """A task for an agent."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="What the agent should achieve, in plain words.")
    model: str | None = Field(default=None, description="LLM to use, as 'plugin/capability:model'.")
    tools: list[ToolSpec] = Field(default_factory=list)
    inputs: dict[str, JsonValue] = Field(default_factory=dict)
    max_steps: int = Field(default=10, ge=1, le=1000)


class AgentStep(BaseModel):
    """One step of the agent's work, for the execution history."""

    kind: Literal["thought", "tool_call", "tool_result", "message"]
    content: str
    data: dict[str, JsonValue] = Field(default_factory=dict)


class AgentResult(BaseModel):
    """What the agent produced."""

    output: str
    steps: list[AgentStep] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)


class AgentFramework(Capability, Generic[ConfigT]):
    """An agent framework (LangGraph, CrewAI, AutoGen...). Implement :meth:`run_agent`."""

    kind: ClassVar[CapabilityKind] = CapabilityKind.AGENT_FRAMEWORK

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {"run_agent": Operation("run_agent", "run_agent", AgentRequest, AgentResult, "Run an agent task.")}

    @abc.abstractmethod
    def run_agent(
        self, request: AgentRequest, config: ConfigT, context: Context
    ) -> AgentResult | Awaitable[AgentResult]:
        """Work on the task until done or ``max_steps``; return the result and the steps."""
