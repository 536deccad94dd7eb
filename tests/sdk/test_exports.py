"""The SDK's public surface is a contract: changing it is a deliberate, reviewed act."""

import synthral_sdk
from synthral_sdk import hookspecs

EXPECTED_EXPORTS = {
    "ENTRY_POINT_GROUP", "PROJECT_NAME", "PROTOCOL_VERSION", "AgentFramework", "AgentRequest", "AgentResult",
    "AgentStep", "AuthSpec", "BBox", "BlobRef", "BlobStore", "Capability", "CapabilityKind", "CapabilitySpec",
    "ChatMessage", "CodeError", "CodeRequest", "CodeResult", "CodeRuntime", "CompletionRequest", "CompletionResult",
    "ConnectionCheck", "ConnectionStatus", "Connector", "Context", "CountRequest", "CountResult", "CredentialField",
    "DeleteRequest",
    "DeleteResult", "EmbedRequest", "EmbedResult", "Embedder", "JSONObject", "JSONValue", "LLMProvider",
    "NoConfig", "Node", "OCRBlock", "OCREngine", "OCRLine", "OCRPage", "OCRRequest", "OCRResult", "OCRTable",
    "OCRTableCell", "OCRWord", "Operation",
    "OperationSpec", "PollRequest", "PollResult", "QueryMatch", "QueryRequest", "QueryResult", "SecretDelete",
    "SecretDeleted", "SecretGet", "SecretPut", "SecretStore", "SecretValue", "SecretWritten", "ToolCall",
    "ToolSpec", "Trigger", "UpsertRequest", "UpsertResult", "Usage", "VectorRecord", "VectorStore",
    "WebhookRequest", "WebhookScheme", "WebhookSpec", "WebhookVerification", "__version__", "hookimpl",
    # 1.1: host callbacks, structured output, vision, budgets and teams for agents
    "AgentBudget", "AgentRole", "ContentPart", "HostServices", "ResponseFormat", "ToolResult",
    # 1.4: output handles and palette metadata of a capability, the event a trigger yields
    "DynamicOutputs", "Handle", "Handles", "TriggerEvent",
}  # fmt: skip

EXPECTED_HOOKS = {
    "synthral_startup", "synthral_shutdown", "synthral_nodes", "synthral_triggers", "synthral_connectors",
    "synthral_ocr_engines", "synthral_embedders", "synthral_vector_stores", "synthral_code_runtimes",
    "synthral_llm_providers", "synthral_agent_frameworks", "synthral_secret_stores",
}  # fmt: skip


def test_public_names_are_pinned() -> None:
    assert set(synthral_sdk.__all__) == EXPECTED_EXPORTS
    for name in synthral_sdk.__all__:
        assert hasattr(synthral_sdk, name), name


def test_hook_specs_are_pinned_and_documented() -> None:
    assert set(hookspecs.__all__) == EXPECTED_HOOKS
    for name in hookspecs.__all__:
        hook = getattr(hookspecs, name)
        assert hook.__doc__ and "versionadded" in hook.__doc__, name
        assert "return" in hook.__annotations__, name


def test_the_package_is_typed() -> None:
    from pathlib import Path

    assert (Path(synthral_sdk.__file__).parent / "py.typed").is_file()


def test_rest_module_names_are_pinned() -> None:
    from synthral_sdk import rest, testing_rest

    assert set(rest.__all__) == {
        "APP_FILE", "FUNCTIONS_FILE", "AppDefinition", "ConnectorDefinition", "DeclaredAction", "DeclaredPlugin",
        "DeclaredTrigger", "Example", "FunctionDefinition", "Pagination", "ProtocolData", "ResponseSpec",
        "RestConfig", "RestOutput", "SecurityScheme", "TriggerConfig", "TriggerDefinition", "WebhookDef",
        "build_capabilities", "call_function", "load_definition",
    }  # fmt: skip
    assert set(testing_rest.__all__) == {
        "ApiKeyAuth", "BasicAuth", "BearerAuth", "Handler", "Recorded", "Reply", "StandIn",
    }  # fmt: skip
    for module in (rest, testing_rest):
        for name in module.__all__:
            assert hasattr(module, name), name
