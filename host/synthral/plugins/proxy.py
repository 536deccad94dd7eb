"""Remote capabilities as proxies registered into the host's pluggy PluginManager.

Host code asks the PluginManager for capabilities and calls ``spec()`` and
``call(operation, config, payload, context)`` on what it gets. A built-in capability (an
SDK object in this process) and a :class:`RemoteCapability` (a proxy that forwards the
call to the plugin's process) answer both the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

from synthral.observability import hooks as observe
from synthral.plugins.permissions import check_credential_kinds
from synthral.plugins.supervisor import PluginProcess
from synthral_sdk import CapabilityKind, CapabilitySpec, Context, hookimpl
from synthral_sdk.types import JSONObject, JSONValue

__all__ = ["CapabilityHandle", "RemoteCapability", "RemotePluginProxy"]


class CapabilityHandle(Protocol):
    """What host code needs of any capability, local or remote."""

    @property
    def kind(self) -> CapabilityKind:
        """The capability's kind."""
        ...

    def spec(self) -> CapabilitySpec:
        """The catalog entry."""
        ...

    async def call(self, operation: str, config: object, payload: object, context: Context) -> JSONObject:
        """Run one operation with raw JSON config and payload; return JSON output."""
        ...


class RemoteCapability:
    """A capability that lives in a plugin process."""

    def __init__(self, process: PluginProcess, spec: CapabilitySpec) -> None:
        self._process = process
        self._spec = spec
        self.name = spec.name

    @property
    def kind(self) -> CapabilityKind:
        """The capability's kind."""
        return self._spec.kind

    @property
    def process(self) -> PluginProcess:
        """The supervised process serving it."""
        return self._process

    def spec(self) -> CapabilitySpec:
        """The catalog entry from the plugin's ``initialize`` answer."""
        return self._spec

    def check_credentials(self, kinds: dict[str, str]) -> None:
        """Refuse credentials of kinds the plugin was not granted (``kinds``: kind by credential name).

        Raises:
            PermissionDenied: One of them is of a kind its grant does not name.
        """
        check_credential_kinds(self._process.options.label, self._process.options.grant, kinds)

    async def call(self, operation: str, config: object, payload: object, context: Context) -> JSONObject:
        """Forward the call to the plugin process; same contract as ``Capability.call``."""
        wire: JSONObject = {"attempt": context.attempt}
        if context.execution_id is not None:
            wire["executionId"] = context.execution_id
        if context.node_id is not None:
            wire["nodeId"] = context.node_id
        if context.idempotency_key is not None:
            wire["idempotencyKey"] = context.idempotency_key
        if context.secrets:
            wire["secrets"] = cast(JSONValue, dict(context.secrets))
        # The workspace's policy narrowed to what the plugin was granted: one policy, which the
        # SDK's clients apply in the plugin and the sandbox's egress proxy applies again.
        wire["network"] = self._process.options.grant.network_policy(context.network).to_wire()
        category = self._spec.category or self._spec.extra.get("category")  # the palette group (SDK 1.9)
        with observe.plugin_call(
            self._spec.kind.value,
            self._process.options.name,
            self._spec.name,
            operation,
            category.lower() if isinstance(category, str) and category else None,
        ) as observed:
            if observed.traceparent is not None:
                wire["traceparent"] = observed.traceparent
            return await self._process.invoke(
                self._spec.name,
                operation,
                config=cast(JSONValue, config),
                payload=cast(JSONValue, payload),
                context=wire,
                timeout=context.time_remaining(),
                on_progress=context.report_progress,
                on_event=context.emit,
                host=context.host if context.has_host else None,
            )


class RemotePluginProxy:
    """Registered into the host's PluginManager in place of a plugin's own hook module."""

    def __init__(self, process: PluginProcess, catalog: Sequence[JSONObject]) -> None:
        self.process = process
        self.capabilities = [RemoteCapability(process, CapabilitySpec.model_validate(item)) for item in catalog]

    def _of(self, kind: CapabilityKind) -> list[RemoteCapability]:
        return [cap for cap in self.capabilities if cap.kind is kind]


def _kind_hook(kind: CapabilityKind) -> object:
    def capabilities(self: RemotePluginProxy) -> list[RemoteCapability]:
        return self._of(kind)

    capabilities.__name__ = kind.hook
    capabilities.__doc__ = f"The plugin's {kind.value} capabilities, as proxies."
    return hookimpl(capabilities)


# One hook implementation per capability kind, made from the kind itself: a new kind needs
# no change here.
for _kind in CapabilityKind:
    setattr(RemotePluginProxy, _kind.hook, _kind_hook(_kind))
