"""Loading plugins into a pluggy PluginManager and collecting their capabilities."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

import pluggy

from synthral_sdk import hookspecs
from synthral_sdk._capability import Capability, CapabilityKind, CapabilitySpec
from synthral_sdk._json import JSONObject
from synthral_sdk._markers import ENTRY_POINT_GROUP, PROJECT_NAME
from synthral_sdk.errors import PluginLoadError

__all__ = ["KIND_HOOKS", "CapabilityEntry", "EntryPointRef", "collect_capabilities", "new_plugin_manager"]

KIND_HOOKS: Final[Mapping[CapabilityKind, str]] = {kind: kind.hook for kind in CapabilityKind}
"""The hook that returns each kind of capability."""


@dataclass(frozen=True)
class EntryPointRef:
    """An entry point as ``name = module:attr`` (attr optional)."""

    name: str
    value: str

    def load(self) -> object:
        """Import the module and resolve the attribute path, like importlib.metadata does."""
        module_name, _, attrs = self.value.partition(":")
        obj: object = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


@dataclass(frozen=True)
class CapabilityEntry:
    """A collected capability and where it came from."""

    capability: Capability
    plugin_name: str
    connector: str | None = None

    def spec(self) -> CapabilitySpec:
        """The catalog entry; a connector action's ``extra`` names its connector."""
        spec = self.capability.spec()
        if self.connector is not None:
            return spec.model_copy(update={"extra": {**spec.extra, "connector": self.connector}})
        return spec


def new_plugin_manager() -> pluggy.PluginManager:
    """A PluginManager with the SDK's hook specs."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def discover_entry_points(dist_name: str | None) -> list[EntryPointRef]:
    """Entry points in ``synthral.plugins``, from one distribution or from all."""
    # Imported here: the host passes entry points in 'initialize', so a plugin's cold start
    # usually skips importlib.metadata (~30 ms on a small machine).
    from importlib.metadata import distribution, entry_points  # noqa: PLC0415

    if dist_name is not None:
        eps: Iterable[EntryPoint] = [ep for ep in distribution(dist_name).entry_points if ep.group == ENTRY_POINT_GROUP]
    else:
        eps = entry_points(group=ENTRY_POINT_GROUP)
    return [EntryPointRef(name=ep.name, value=ep.value) for ep in eps]


def load_entry_points(pm: pluggy.PluginManager, refs: Iterable[EntryPointRef]) -> None:
    """Import each entry point and register it; raise :class:`PluginLoadError` naming the one that failed."""
    for ref in refs:
        try:
            plugin = ref.load()
            pm.register(plugin, name=ref.name)
        except Exception as exc:
            raise PluginLoadError(
                f"entry point '{ref.name} = {ref.value}' failed to load: {type(exc).__name__}: {exc}",
                details={"entryPoint": ref.name, "exception": type(exc).__name__},
            ) from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(
            f"{exc}; every @hookimpl must be named after a hook in synthral_sdk.hookspecs",
        ) from exc


def collect_capabilities(pm: pluggy.PluginManager) -> dict[str, CapabilityEntry]:
    """Call every capability hook and index the results by capability name.

    Raises:
        PluginLoadError: A hook returned something that is not a capability of its kind,
            or two capabilities share a name.
    """
    entries: dict[str, CapabilityEntry] = {}

    def add(entry: CapabilityEntry) -> None:
        name = entry.capability.spec().name
        if name in entries:
            raise PluginLoadError(
                f"two capabilities are named '{name}' (from '{entries[name].plugin_name}' and "
                f"'{entry.plugin_name}'); names must be unique within a plugin, across kinds"
            )
        entries[name] = entry

    for kind, hook_name in KIND_HOOKS.items():
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            try:
                returned = impl.function()
            except Exception as exc:
                raise PluginLoadError(
                    f"hook {hook_name} of '{impl.plugin_name}' raised {type(exc).__name__}: {exc}"
                ) from exc
            if returned is None:
                continue
            for capability in returned:
                if not isinstance(capability, Capability) or capability.kind is not kind:
                    raise PluginLoadError(
                        f"hook {hook_name} of '{impl.plugin_name}' returned {capability!r}; it must return "
                        f"instances of the SDK's {kind.value} base class"
                    )
                add(CapabilityEntry(capability, impl.plugin_name))
                # A connector's actions are nodes of the plugin too (checked by kind, so loading a
                # plugin without connectors never imports the connector module).
                if kind is CapabilityKind.CONNECTOR:
                    for action in getattr(capability, "actions", ()):
                        add(CapabilityEntry(action(), impl.plugin_name, connector=capability.name))
    return entries


def catalog(entries: Mapping[str, CapabilityEntry]) -> list[JSONObject]:
    """The wire form of every capability's spec."""
    return [entry.spec().wire() for entry in entries.values()]
