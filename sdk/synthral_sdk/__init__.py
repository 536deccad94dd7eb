"""SynthralOS plugin SDK: hook specs, capability base classes and the plugin runner.

A plugin is a wheel that depends on ``synthral-sdk``, subclasses one of the capability
kinds below, returns instances from a hook in :mod:`synthral_sdk.hookspecs` and declares
its hook module as an entry point in the group ``synthral.plugins``. See
docs/plugin-authoring.md.
"""

from synthral_sdk._ai import (
    AgentFramework,
    AgentRequest,
    AgentResult,
    AgentStep,
    ChatMessage,
    CompletionRequest,
    CompletionResult,
    DeleteRequest,
    DeleteResult,
    Embedder,
    EmbedRequest,
    EmbedResult,
    LLMProvider,
    QueryMatch,
    QueryRequest,
    QueryResult,
    ToolCall,
    ToolSpec,
    UpsertRequest,
    UpsertResult,
    Usage,
    VectorRecord,
    VectorStore,
)
from synthral_sdk._capability import (
    Capability,
    CapabilityKind,
    CapabilitySpec,
    NoConfig,
    Operation,
    OperationSpec,
)
from synthral_sdk._connector import (
    AuthSpec,
    ConnectionCheck,
    ConnectionStatus,
    Connector,
    CredentialField,
    WebhookRequest,
    WebhookSpec,
)
from synthral_sdk._documents import BBox, OCRBlock, OCREngine, OCRPage, OCRRequest, OCRResult, OCRWord
from synthral_sdk._markers import ENTRY_POINT_GROUP, PROJECT_NAME, hookimpl
from synthral_sdk._node import Node, PollRequest, PollResult, Trigger
from synthral_sdk._protocol import PROTOCOL_VERSION
from synthral_sdk._runtime import (
    CodeRequest,
    CodeResult,
    CodeRuntime,
    SecretDelete,
    SecretDeleted,
    SecretGet,
    SecretPut,
    SecretStore,
    SecretValue,
    SecretWritten,
)
from synthral_sdk._version import __version__
from synthral_sdk.blobs import BlobStore
from synthral_sdk.context import Context
from synthral_sdk.types import BlobRef, JSONObject, JSONValue
from synthral_sdk.webhooks import WebhookScheme, WebhookVerification

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "PROTOCOL_VERSION",
    "AgentFramework",
    "AgentRequest",
    "AgentResult",
    "AgentStep",
    "AuthSpec",
    "BBox",
    "BlobRef",
    "BlobStore",
    "Capability",
    "CapabilityKind",
    "CapabilitySpec",
    "ChatMessage",
    "CodeRequest",
    "CodeResult",
    "CodeRuntime",
    "CompletionRequest",
    "CompletionResult",
    "ConnectionCheck",
    "ConnectionStatus",
    "Connector",
    "Context",
    "CredentialField",
    "DeleteRequest",
    "DeleteResult",
    "EmbedRequest",
    "EmbedResult",
    "Embedder",
    "JSONObject",
    "JSONValue",
    "LLMProvider",
    "NoConfig",
    "Node",
    "OCRBlock",
    "OCREngine",
    "OCRPage",
    "OCRRequest",
    "OCRResult",
    "OCRWord",
    "Operation",
    "OperationSpec",
    "PollRequest",
    "PollResult",
    "QueryMatch",
    "QueryRequest",
    "QueryResult",
    "SecretDelete",
    "SecretDeleted",
    "SecretGet",
    "SecretPut",
    "SecretStore",
    "SecretValue",
    "SecretWritten",
    "ToolCall",
    "ToolSpec",
    "Trigger",
    "UpsertRequest",
    "UpsertResult",
    "Usage",
    "VectorRecord",
    "VectorStore",
    "WebhookRequest",
    "WebhookScheme",
    "WebhookSpec",
    "WebhookVerification",
    "__version__",
    "hookimpl",
]
