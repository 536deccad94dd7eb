"""Plugin use cases, shared by the CLI and the API: install, list, inspect, call."""

from __future__ import annotations

from typing import cast

import orjson

from synthral.errors import ConfigurationError, InputInvalid
from synthral.plugins.host import CatalogEntry, PluginHost, PluginInfo
from synthral.plugins.installer import ProgressFn
from synthral.plugins.layout import Manifest
from synthral_sdk.types import JSONObject, JSONValue

__all__ = ["PluginService", "parse_json_option", "split_pin"]


def parse_json_option(raw: str | None, option: str) -> JSONValue:
    """Parse a JSON command-line option, naming the option when it is not valid JSON.

    Raises:
        InputInvalid: ``raw`` is not JSON.
    """
    if raw is None or raw == "":
        return {}
    try:
        return cast(JSONValue, orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise InputInvalid(
            f'{option} is not valid JSON ({exc}); quote it for the shell, e.g. {option} \'{{"url": "https://example.com"}}\''
        ) from None


def split_pin(spec: str) -> tuple[str, str | None]:
    """``name==version`` → (name, version); ``name`` → (name, None)."""
    name, sep, version = spec.partition("==")
    if sep and not version:
        raise ConfigurationError(f"{spec!r} has '==' but no version; write NAME or NAME==VERSION")
    return name.strip(), (version.strip() or None) if sep else None


def plugin_to_json(info: PluginInfo, *, detailed: bool = False) -> JSONObject:
    """The ``--json`` form of a plugin."""
    data: JSONObject = {
        "name": info.name,
        "version": info.version,
        "dist": info.dist,
        "summary": info.summary,
        "enabled": info.enabled,
        "builtin": info.builtin,
        "capabilities": cast(JSONValue, info.capabilities),
        "process": info.process,
    }
    if detailed and info.manifest is not None:
        manifest = info.manifest
        data.update(
            {
                "source": manifest.source,
                "wheelSha256": manifest.wheel_sha256,
                "sdkVersion": manifest.sdk_version,
                "protocolVersion": manifest.protocol_version,
                "installedAt": manifest.installed_at.isoformat(),
                "entryPoints": [f"{ep.name} = {ep.value}" for ep in manifest.entry_points],
                "requirements": cast(JSONValue, manifest.requirements),
            }
        )
    return data


def capability_to_json(entry: CatalogEntry) -> JSONObject:
    """The ``--json`` form of a catalog entry."""
    return {
        "ref": entry.ref,
        "plugin": entry.plugin,
        "version": entry.version,
        "builtin": entry.builtin,
        **entry.spec.wire(),
    }


class PluginService:
    """The plugin use cases over one :class:`PluginHost`."""

    def __init__(self, host: PluginHost) -> None:
        self.host = host

    async def install(self, source: str, *, reinstall: bool = False, progress: ProgressFn | None = None) -> Manifest:
        """Install a plugin from a wheel, a folder or ``NAME==VERSION``."""
        return await self.host.install(source, reinstall=reinstall, progress=progress)

    def list_plugins(self) -> list[PluginInfo]:
        """Every plugin, built-in and installed."""
        return self.host.plugins()

    def info(self, name: str) -> list[PluginInfo]:
        """Every installed version of one plugin."""
        return self.host.plugin_versions(name)

    async def remove(self, spec: str, *, purge: bool = False) -> list[Manifest]:
        """Remove ``name`` (all versions) or ``name==version``."""
        name, version = split_pin(spec)
        return await self.host.remove(name, version, purge=purge)

    async def set_enabled(self, spec: str, enabled: bool) -> list[str]:
        """Enable or disable ``name`` or ``name==version``."""
        name, version = split_pin(spec)
        return await self.host.set_enabled(name, version, enabled)

    def capabilities(self, *, kind: str | None = None, plugin: str | None = None) -> list[CatalogEntry]:
        """The catalog, optionally filtered by kind and plugin."""
        entries = self.host.catalog()
        if kind is not None:
            entries = [e for e in entries if e.spec.kind.value == kind]
        if plugin is not None:
            entries = [e for e in entries if e.plugin == plugin]
        return entries

    async def invoke(
        self,
        ref: str,
        *,
        payload: JSONValue,
        config: JSONValue = None,
        operation: str | None = None,
        version: str | None = None,
        timeout: float | None = None,
        secrets: dict[str, str] | None = None,
        workspace_id: str | None = None,
    ) -> JSONObject:
        """Call one capability once (for debugging, or a connector action) and return its output."""
        context = self.host.context(timeout=timeout, secrets=secrets, workspace_id=workspace_id)
        return await self.host.invoke(
            ref, payload, config=config, operation=operation, version=version, context=context
        )
