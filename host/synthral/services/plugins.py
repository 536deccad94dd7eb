"""Plugin use cases, shared by the CLI and the API: install, list, inspect, call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import cast

import orjson
from sqlalchemy import func, select

from synthral.errors import ConfigurationError, InputInvalid, PluginPinned
from synthral.plugins.host import CatalogEntry, PluginHost, PluginInfo
from synthral.plugins.installer import ProgressFn
from synthral.plugins.layout import Manifest
from synthral.plugins.permissions import GrantRequest
from synthral.store.db import Database
from synthral.store.tables import EXECUTION, WORKFLOW, WORKFLOW_VERSION, ExecutionStatus
from synthral_sdk.types import JSONObject, JSONValue

__all__ = [
    "Pin",
    "PluginService",
    "Removal",
    "describe_pins",
    "parse_json_option",
    "pins_from_details",
    "split_pin",
]

WF = WORKFLOW
VERSION = WORKFLOW_VERSION
EXEC = EXECUTION


@dataclass(frozen=True)
class Pin:
    """A saved workflow whose latest version (or whose live runs) need a plugin version.

    Attributes:
        workflow_id, workflow, workspace_id: The workflow (workspace None: a local one).
        workflow_version: The workflow version that pins the plugin version.
        plugin, plugin_version: What it pins.
        latest: Whether that is the workflow's latest version (its next runs need it).
        live_runs: Runs of that version not finished yet (queued, running, waiting, paused).
    """

    workflow_id: str
    workflow: str
    workspace_id: str | None
    workflow_version: int
    plugin: str
    plugin_version: str
    latest: bool
    live_runs: int = 0

    def to_json(self) -> JSONObject:
        """The form errors and answers carry."""
        return {
            "workflow_id": self.workflow_id,
            "workflow": self.workflow,
            "workspace_id": self.workspace_id,
            "workflow_version": self.workflow_version,
            "plugin_version": self.plugin_version,
            "latest": self.latest,
            "live_runs": self.live_runs,
        }


def describe_pins(pins: list[Pin], hidden: int = 0) -> str:
    """``'etl' (version 3), 'sync' (version 1, 2 live runs) and 2 in other workspaces``."""
    parts = []
    for pin in pins:
        runs = f", {pin.live_runs} live run{'s' * (pin.live_runs != 1)}" if pin.live_runs else ""
        parts.append(f"{pin.workflow!r} (version {pin.workflow_version}{runs})")
    if hidden:
        parts.append(f"{hidden} in other workspaces")
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] if parts else "none"


@dataclass(frozen=True)
class Removal:
    """What a removal took away, and the workflows that pinned it (when it was forced)."""

    removed: list[Manifest]
    broken: list[Pin]


def pins_from_details(details: JSONObject) -> list[Pin]:
    """The pins a :class:`PluginPinned` error carries in ``details['workflows']``."""
    plugin = str(details.get("plugin", ""))
    found = details.get("workflows")
    pins = []
    for item in found if isinstance(found, list) else []:
        if isinstance(item, dict):
            pins.append(
                Pin(
                    workflow_id=str(item["workflow_id"]),
                    workflow=str(item["workflow"]),
                    workspace_id=None if item.get("workspace_id") is None else str(item["workspace_id"]),
                    workflow_version=int(cast(int, item["workflow_version"])),
                    plugin=plugin,
                    plugin_version=str(item["plugin_version"]),
                    latest=bool(item.get("latest")),
                    live_runs=int(cast(int, item.get("live_runs", 0))),
                )
            )
    return pins


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
                "permissions": cast(JSONValue, manifest.permissions),
                "grant": cast(JSONValue, manifest.grant),
                "grantDescribed": cast(JSONValue, manifest.granted().describe()),
                "provenance": cast(JSONValue, manifest.provenance),
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
    """The plugin use cases over one :class:`PluginHost` (and the database, for what workflows pin).

    Args:
        host: The plugin host.
        database: Where workflows are saved; without it, removals cannot check pins.
    """

    def __init__(self, host: PluginHost, database: Database | None = None) -> None:
        self.host = host
        self.database = database

    async def install(
        self,
        source: str,
        *,
        reinstall: bool = False,
        progress: ProgressFn | None = None,
        grant: GrantRequest | None = None,
        actor: str | None = None,
    ) -> Manifest:
        """Install a plugin from a wheel, a folder or ``NAME==VERSION``, with what was granted.

        Raises:
            ApprovalRequired: It declares permissions ``grant`` does not cover (nothing installed).
        """
        return await self.host.install(source, reinstall=reinstall, progress=progress, grant=grant, actor=actor)

    def sandbox(self) -> str:
        """Whether plugin processes run sandboxed here, in one line."""
        return self.host.sandbox_status().describe()

    def list_plugins(self) -> list[PluginInfo]:
        """Every plugin, built-in and installed."""
        return self.host.plugins()

    def info(self, name: str) -> list[PluginInfo]:
        """Every installed version of one plugin."""
        return self.host.plugin_versions(name)

    async def pins(self, plugin: str, versions: Iterable[str]) -> list[Pin]:
        """Saved workflows whose latest version, or whose live runs, pin ``plugin`` at one of ``versions``."""
        wanted = set(versions)
        if self.database is None or not wanted:
            return []
        latest = (
            select(WF.c.id, WF.c.name, WF.c.workspace_id, WF.c.version, VERSION.c.plugin_versions)
            .join(VERSION, (VERSION.c.workflow_id == WF.c.id) & (VERSION.c.version == WF.c.version))
            .order_by(WF.c.name)
        )
        counts = (
            select(EXEC.c.workflow_id, EXEC.c.workflow_version, func.count().label("runs"))
            .where(EXEC.c.status.not_in(sorted(ExecutionStatus.TERMINAL)))
            .group_by(EXEC.c.workflow_id, EXEC.c.workflow_version)
            .subquery()
        )
        live = (
            select(
                WF.c.id,
                WF.c.name,
                WF.c.workspace_id,
                counts.c.workflow_version,
                counts.c.runs,
                VERSION.c.plugin_versions,
            )
            .join(WF, WF.c.id == counts.c.workflow_id)
            .join(
                VERSION,
                (VERSION.c.workflow_id == counts.c.workflow_id) & (VERSION.c.version == counts.c.workflow_version),
            )
        )
        async with self.database.engine.connect() as connection:
            saved = list(await connection.execute(latest))
            running = list(await connection.execute(live))
        runs: Counter[tuple[str, int]] = Counter()
        found: dict[tuple[str, int], Pin] = {}
        for row in running:
            pinned = (row.plugin_versions or {}).get(plugin)
            if pinned in wanted:
                runs[(row.id, row.workflow_version)] += int(row.runs)
                found[(row.id, row.workflow_version)] = Pin(
                    row.id, row.name, row.workspace_id, row.workflow_version, plugin, pinned, latest=False
                )
        for latest_row in saved:
            pinned = (latest_row.plugin_versions or {}).get(plugin)
            if pinned in wanted:
                found[(latest_row.id, latest_row.version)] = Pin(
                    latest_row.id, latest_row.name, latest_row.workspace_id, latest_row.version, plugin, pinned, True
                )
        return [
            replace(pin, live_runs=runs[key])
            for key, pin in sorted(found.items(), key=lambda item: (item[1].workflow, item[0][1]))
        ]

    async def remove(self, spec: str, *, purge: bool = False, force: bool = False) -> Removal:
        """Remove ``name==version`` (or every version of ``name``), unless saved workflows pin it.

        Args:
            spec: ``NAME==VERSION``, or ``NAME`` for every installed version.
            purge: Also delete the plugin's data directory once no version is left.
            force: Remove it even though workflows pin it (their runs will fail); the
                answer names them.

        Raises:
            PluginNotFound: Nothing installed matches.
            PluginPinned: Workflows pin it and ``force`` is off; ``details['workflows']``
                names each, and the message says how to go on (edges add their own fix).
        """
        name, version = split_pin(spec)
        infos = [info for info in self.host.plugin_versions(name) if version in (None, info.version)]
        if not infos:
            await self.host.remove(name, version, purge=purge)  # raises PluginNotFound, naming what exists
        plugin = infos[0].name
        versions = [info.version for info in infos]
        pins = await self.pins(plugin, versions)
        if pins and not force:
            raise PluginPinned(
                f"plugin {plugin} {', '.join(versions)} is pinned by saved workflows: {describe_pins(pins)}; "
                "their runs would fail without it. Save them against another version first, or remove it anyway",
                details={
                    "plugin": plugin,
                    "versions": cast(JSONValue, versions),
                    "workflows": [pin.to_json() for pin in pins],
                },
            )
        return Removal(await self.host.remove(name, version, purge=purge), pins)

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
