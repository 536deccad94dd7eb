"""Connectors declared as data, run by the SDK's generic REST runtime (1.7).

A connector folder holds ``app.json`` and ``functions.json`` (ACI.dev's shapes plus a few
fields of ours; docs/connectors.md). ``synthral connector build`` turns it into a wheel whose
hook module is three lines::

    from synthral_sdk.rest import DeclaredPlugin

    plugin = DeclaredPlugin.from_module(__name__)
    synthral_connectors, synthral_nodes, synthral_triggers = plugin.hooks()

Hand-written actions sit beside the declared ones: pass their node classes as
``extra_actions`` (they may call :func:`call_function` to reuse the app's auth). Requests
go through the call's network-policy client (``context.http_client_sync``), so a connector
reaches only what the workspace's SSRF policy allows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from synthral_sdk._connector import Connector
from synthral_sdk._markers import hookimpl
from synthral_sdk._node import Node, Trigger
from synthral_sdk._rest_format import (
    APP_FILE,
    FUNCTIONS_FILE,
    AppDefinition,
    ConnectorDefinition,
    Example,
    FunctionDefinition,
    Pagination,
    ProtocolData,
    ResponseSpec,
    SecurityScheme,
    TriggerDefinition,
    WebhookDef,
    load_definition,
)
from synthral_sdk._rest_runtime import (
    DeclaredAction,
    DeclaredTrigger,
    RestConfig,
    RestOutput,
    TriggerConfig,
    build_capabilities,
    call_function,
)

__all__ = [
    "APP_FILE",
    "FUNCTIONS_FILE",
    "AppDefinition",
    "ConnectorDefinition",
    "DeclaredAction",
    "DeclaredPlugin",
    "DeclaredTrigger",
    "Example",
    "FunctionDefinition",
    "Pagination",
    "ProtocolData",
    "ResponseSpec",
    "RestConfig",
    "RestOutput",
    "SecurityScheme",
    "TriggerConfig",
    "TriggerDefinition",
    "WebhookDef",
    "build_capabilities",
    "call_function",
    "load_definition",
]

Hook = Callable[[], Sequence[Any]]


class DeclaredPlugin:
    """The capabilities of one declared connector, offered through the plugin hooks.

    Args:
        folder: Where ``app.json`` and ``functions.json`` are.
        extra_actions: Hand-written node classes offered as actions of the same connector.
    """

    def __init__(self, folder: Path, extra_actions: tuple[type[Node[Any, Any, Any]], ...] = ()) -> None:
        self.definition = load_definition(folder)
        self.connector, self.triggers = build_capabilities(self.definition, extra_actions)

    @classmethod
    def from_module(cls, module: str, extra_actions: tuple[type[Node[Any, Any, Any]], ...] = ()) -> DeclaredPlugin:
        """The plugin whose definition files are package data beside ``module``."""
        package = module.rpartition(".")[0] or module
        return cls(Path(str(resources.files(package))), extra_actions)

    def hooks(self) -> tuple[Hook, Hook, Hook]:
        """``synthral_connectors``, ``synthral_nodes`` and ``synthral_triggers`` implementations."""
        connector, triggers = self.connector, self.triggers

        @hookimpl
        def synthral_connectors() -> Sequence[Connector[Any]]:
            return [connector]

        @hookimpl
        def synthral_nodes() -> Sequence[Node[Any, Any, Any]]:
            return []  # the actions come with the connector

        @hookimpl
        def synthral_triggers() -> Sequence[Trigger[Any]]:
            return list(triggers)

        return synthral_connectors, synthral_nodes, synthral_triggers

    def action(self, name: str) -> Node[Any, Any, Any]:
        """A fresh instance of the action called ``name``, for tests."""
        for action in self.connector.actions:
            if action.name == name:
                return action()
        known = ", ".join(a.name for a in self.connector.actions)
        raise KeyError(f"connector '{self.connector.name}' has no action {name!r}; it has: {known}")

    def trigger(self, name: str) -> Trigger[Any]:
        """The polling trigger called ``name``, for tests."""
        for trigger in self.triggers:
            if trigger.name == name:
                return trigger
        raise KeyError(f"connector '{self.connector.name}' has no trigger {name!r}")
