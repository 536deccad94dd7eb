"""SynthralOS plugin SDK: hook specs, capability base classes and the plugin runner.

A plugin is a wheel that depends on ``synthral-sdk``, subclasses one of the capability
kinds below, returns instances from a hook in :mod:`synthral_sdk.hookspecs` and declares
its hook module as an entry point in the group ``synthral.plugins``. See
docs/plugin-authoring.md.

Most names load on first use (PEP 562): a plugin process imports only the kinds it uses,
which keeps its cold start short.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from synthral_sdk._json import JSONObject, JSONValue
from synthral_sdk._markers import ENTRY_POINT_GROUP, PROJECT_NAME, hookimpl
from synthral_sdk._protocol import PROTOCOL_VERSION
from synthral_sdk._version import __version__

if TYPE_CHECKING:
    from synthral_sdk._ai import (
        AgentBudget,
        AgentFramework,
        AgentRequest,
        AgentResult,
        AgentRole,
        AgentStep,
        ChatMessage,
        CompletionRequest,
        CompletionResult,
        ContentPart,
        CountRequest,
        CountResult,
        DeleteRequest,
        DeleteResult,
        Embedder,
        EmbedRequest,
        EmbedResult,
        LLMProvider,
        QueryMatch,
        QueryRequest,
        QueryResult,
        ResponseFormat,
        ToolCall,
        ToolResult,
        ToolSpec,
        UpsertRequest,
        UpsertResult,
        Usage,
        VectorRecord,
        VectorStore,
    )
    from synthral_sdk._capability import Capability, CapabilityKind, CapabilitySpec, NoConfig, Operation, OperationSpec
    from synthral_sdk._connector import (
        AuthSpec,
        ConnectionCheck,
        ConnectionStatus,
        Connector,
        CredentialField,
        WebhookRequest,
        WebhookSpec,
    )
    from synthral_sdk._documents import (
        BBox,
        OCRBlock,
        OCREngine,
        OCRLine,
        OCRPage,
        OCRRequest,
        OCRResult,
        OCRTable,
        OCRTableCell,
        OCRWord,
    )
    from synthral_sdk._host import HostServices
    from synthral_sdk._node import Node, PollRequest, PollResult, Trigger
    from synthral_sdk._runtime import (
        CodeError,
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
    from synthral_sdk.blobs import BlobStore
    from synthral_sdk.context import Context
    from synthral_sdk.types import BlobRef
    from synthral_sdk.webhooks import WebhookScheme, WebhookVerification

_LAZY: dict[str, str] = {
    "AgentBudget": "synthral_sdk._ai",
    "AgentFramework": "synthral_sdk._ai",
    "AgentRequest": "synthral_sdk._ai",
    "AgentResult": "synthral_sdk._ai",
    "AgentRole": "synthral_sdk._ai",
    "AgentStep": "synthral_sdk._ai",
    "AuthSpec": "synthral_sdk._connector",
    "BBox": "synthral_sdk._documents",
    "BlobRef": "synthral_sdk.types",
    "BlobStore": "synthral_sdk.blobs",
    "Capability": "synthral_sdk._capability",
    "CapabilityKind": "synthral_sdk._capability",
    "CapabilitySpec": "synthral_sdk._capability",
    "ChatMessage": "synthral_sdk._ai",
    "CodeError": "synthral_sdk._runtime",
    "CodeRequest": "synthral_sdk._runtime",
    "CodeResult": "synthral_sdk._runtime",
    "CodeRuntime": "synthral_sdk._runtime",
    "CompletionRequest": "synthral_sdk._ai",
    "CompletionResult": "synthral_sdk._ai",
    "CountRequest": "synthral_sdk._ai",
    "CountResult": "synthral_sdk._ai",
    "ConnectionCheck": "synthral_sdk._connector",
    "ConnectionStatus": "synthral_sdk._connector",
    "Connector": "synthral_sdk._connector",
    "ContentPart": "synthral_sdk._ai",
    "Context": "synthral_sdk.context",
    "CredentialField": "synthral_sdk._connector",
    "DeleteRequest": "synthral_sdk._ai",
    "DeleteResult": "synthral_sdk._ai",
    "EmbedRequest": "synthral_sdk._ai",
    "EmbedResult": "synthral_sdk._ai",
    "Embedder": "synthral_sdk._ai",
    "HostServices": "synthral_sdk._host",
    "LLMProvider": "synthral_sdk._ai",
    "NoConfig": "synthral_sdk._capability",
    "Node": "synthral_sdk._node",
    "OCRBlock": "synthral_sdk._documents",
    "OCREngine": "synthral_sdk._documents",
    "OCRLine": "synthral_sdk._documents",
    "OCRPage": "synthral_sdk._documents",
    "OCRRequest": "synthral_sdk._documents",
    "OCRResult": "synthral_sdk._documents",
    "OCRTable": "synthral_sdk._documents",
    "OCRTableCell": "synthral_sdk._documents",
    "OCRWord": "synthral_sdk._documents",
    "Operation": "synthral_sdk._capability",
    "OperationSpec": "synthral_sdk._capability",
    "PollRequest": "synthral_sdk._node",
    "PollResult": "synthral_sdk._node",
    "QueryMatch": "synthral_sdk._ai",
    "QueryRequest": "synthral_sdk._ai",
    "QueryResult": "synthral_sdk._ai",
    "ResponseFormat": "synthral_sdk._ai",
    "SecretDelete": "synthral_sdk._runtime",
    "SecretDeleted": "synthral_sdk._runtime",
    "SecretGet": "synthral_sdk._runtime",
    "SecretPut": "synthral_sdk._runtime",
    "SecretStore": "synthral_sdk._runtime",
    "SecretValue": "synthral_sdk._runtime",
    "SecretWritten": "synthral_sdk._runtime",
    "ToolCall": "synthral_sdk._ai",
    "ToolResult": "synthral_sdk._ai",
    "ToolSpec": "synthral_sdk._ai",
    "Trigger": "synthral_sdk._node",
    "UpsertRequest": "synthral_sdk._ai",
    "UpsertResult": "synthral_sdk._ai",
    "Usage": "synthral_sdk._ai",
    "VectorRecord": "synthral_sdk._ai",
    "VectorStore": "synthral_sdk._ai",
    "WebhookRequest": "synthral_sdk._connector",
    "WebhookScheme": "synthral_sdk.webhooks",
    "WebhookSpec": "synthral_sdk._connector",
    "WebhookVerification": "synthral_sdk.webhooks",
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "PROTOCOL_VERSION",
    "AgentBudget",
    "AgentFramework",
    "AgentRequest",
    "AgentResult",
    "AgentRole",
    "AgentStep",
    "AuthSpec",
    "BBox",
    "BlobRef",
    "BlobStore",
    "Capability",
    "CapabilityKind",
    "CapabilitySpec",
    "ChatMessage",
    "CodeError",
    "CodeRequest",
    "CodeResult",
    "CodeRuntime",
    "CompletionRequest",
    "CompletionResult",
    "ConnectionCheck",
    "ConnectionStatus",
    "Connector",
    "ContentPart",
    "Context",
    "CountRequest",
    "CountResult",
    "CredentialField",
    "DeleteRequest",
    "DeleteResult",
    "EmbedRequest",
    "EmbedResult",
    "Embedder",
    "HostServices",
    "JSONObject",
    "JSONValue",
    "LLMProvider",
    "NoConfig",
    "Node",
    "OCRBlock",
    "OCREngine",
    "OCRLine",
    "OCRPage",
    "OCRRequest",
    "OCRResult",
    "OCRTable",
    "OCRTableCell",
    "OCRWord",
    "Operation",
    "OperationSpec",
    "PollRequest",
    "PollResult",
    "QueryMatch",
    "QueryRequest",
    "QueryResult",
    "ResponseFormat",
    "SecretDelete",
    "SecretDeleted",
    "SecretGet",
    "SecretPut",
    "SecretStore",
    "SecretValue",
    "SecretWritten",
    "ToolCall",
    "ToolResult",
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


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'synthral_sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
