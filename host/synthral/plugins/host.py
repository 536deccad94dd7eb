"""The plugin host: installed plugins, their processes and one pluggy PluginManager.

Built-in capabilities (the ``core`` logic nodes) are registered into the PluginManager as
ordinary SDK hook modules; every enabled installed plugin version is registered as a
:class:`~synthral.plugins.proxy.RemotePluginProxy` under ``name==version``. Host code then
finds and calls capabilities the same way wherever they live. Installs, upgrades, disables
and removals take effect while the host runs, also when another process on the same
``$SYNTHRAL_HOME`` made them.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass, field
from typing import cast

import pluggy

import synthral_sdk
from synthral import __version__
from synthral.builtins import agent, core, llm
from synthral.config import Settings
from synthral.errors import (
    ConfigurationError,
    PluginDisabled,
    PluginNotFound,
    UnknownCapability,
    UnknownOperation,
)
from synthral.plugins.installer import Installer, ProgressFn
from synthral.plugins.layout import Manifest, PluginLayout, sort_versions
from synthral.plugins.permissions import GrantRequest
from synthral.plugins.proxy import CapabilityHandle, RemotePluginProxy
from synthral.plugins.sandbox import SandboxStatus, sandbox_status, sweep_stale
from synthral.plugins.supervisor import PluginProcess, ProcessOptions
from synthral.security.egress import EgressSettings
from synthral_sdk import CapabilitySpec, Context, HostServices
from synthral_sdk._plugin_set import KIND_HOOKS, new_plugin_manager
from synthral_sdk.blobs import BlobStore
from synthral_sdk.context import EventSink
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.types import BlobRef, JSONObject

__all__ = ["BUILTIN_PLUGINS", "CatalogEntry", "PluginHost", "PluginInfo"]

log = logging.getLogger("synthral.plugins")

BUILTIN_PLUGINS = {"core": core, "llm": llm, "agent": agent}
"""Plugins that run inside the host process, by name."""


@dataclass(frozen=True)
class CatalogEntry:
    """One capability of one plugin version."""

    plugin: str
    version: str
    builtin: bool
    spec: CapabilitySpec

    @property
    def ref(self) -> str:
        """``plugin/capability``, the name workflows and the CLI use."""
        return f"{self.plugin}/{self.spec.name}"


@dataclass
class PluginInfo:
    """What ``plugin list`` and ``plugin info`` show."""

    name: str
    version: str
    dist: str
    summary: str
    enabled: bool
    builtin: bool
    capabilities: list[str]
    manifest: Manifest | None = None
    process: JSONObject = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``name==version``."""
        return f"{self.name}=={self.version}"


class PluginHost:
    """Installs, supervises and resolves plugins for one ``$SYNTHRAL_HOME``."""

    def __init__(self, settings: Settings | None = None, *, egress: EgressSettings | None = None) -> None:
        self.settings = settings or Settings.load()
        self.egress = egress if egress is not None else EgressSettings.from_settings(self.settings.security)
        self.layout = PluginLayout(self.settings.plugins_dir)
        self.blobs = BlobStore(self.settings.blobs_dir)
        self.installer = Installer(self.settings, self.layout)
        self.pm: pluggy.PluginManager = new_plugin_manager()
        for name, module in BUILTIN_PLUGINS.items():
            self.pm.register(module, name=name)
        self._service_plugins: set[str] = set()
        self._processes: dict[str, PluginProcess] = {}
        self._manifests: dict[str, Manifest] = {}
        self._index: dict[str, dict[str, dict[str, CapabilityHandle]]] | None = None
        self._stamp: int | None = None
        self._background: set[asyncio.Task[None]] = set()
        server = self.settings.server
        self._protected: list[tuple[str, int]] = [(server.host, server.port)]
        sweep_stale(self.settings.run_dir, self.settings.blobs_dir)
        self.refresh()
        status = self.sandbox_status()
        if not status.sandboxed:  # said at every start, where the operator will see it
            log.warning("%s", status.describe())

    # -- the sandbox ---------------------------------------------------------------------

    def sandbox_status(self) -> SandboxStatus:
        """Whether plugin processes run sandboxed here (what the host says at start)."""
        return sandbox_status(self.settings.sandbox)

    def _process_network(self) -> NetworkPolicy:
        # Read at each start: the egress settings may be replaced while the host runs.
        return self.egress.process_policy()

    def delete_blob(self, ref: BlobRef) -> None:
        """Delete a blob from the store and from every sandboxed process's view of it (a secret's last copy)."""
        self.blobs.delete(ref)
        for process in self._processes.values():
            process.forget_blob(ref.digest.removeprefix("sha256:"))

    def protect_endpoint(self, host: str, port: int) -> None:
        """Never let a plugin reach ``host:port`` (the API this process serves), whatever is allowed."""
        if (host, port) not in self._protected:
            self._protected.append((host, port))

    # -- discovery -----------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Bring the PluginManager in line with what is installed and enabled on disk.

        Cheap when nothing changed (one ``stat``); called before every lookup.
        """
        stamp = self.layout.state_stamp()
        if not force and stamp == self._stamp:
            return
        self._stamp = stamp
        disabled = set(self.layout.read_state().disabled)
        manifests = {m.key: m for m in self.layout.manifests()}
        wanted = {key: m for key, m in manifests.items() if key not in disabled}
        for key in [k for k in self._processes if k not in wanted]:
            self._unregister(key)
        for key, manifest in wanted.items():
            if key not in self._processes or self._manifests.get(key) != manifest:
                if key in self._processes:
                    self._unregister(key)
                self._register(manifest)
        self._manifests = manifests
        self._index = None

    def _register(self, manifest: Manifest) -> None:
        process = PluginProcess(
            ProcessOptions(
                name=manifest.name,
                version=manifest.version,
                dist=manifest.dist,
                python=self.layout.venv_python(manifest.name, manifest.version),
                entry_points=[ep.model_dump() for ep in manifest.entry_points],
                blob_root=self.settings.blobs_dir,
                data_dir=self.layout.data_dir(manifest.name),
                start_timeout=self.settings.plugins.start_timeout,
                call_timeout=self.settings.plugins.call_timeout,
                idle_timeout=self.settings.plugins.idle_timeout,
                cancel_grace=self.settings.plugins.cancel_grace,
                env={"SYNTHRAL_RUNNER_THREADS": str(self.settings.plugins.runner_threads)},
                summary=manifest.summary,
                known_capabilities=tuple(str(c.get("name")) for c in manifest.capabilities),
                grant=manifest.granted(),
                sandbox=self.settings.sandbox,
                run_dir=self.settings.run_dir,
                protected=self._protected,
                network=self._process_network,
            )
        )
        self._processes[manifest.key] = process
        self.pm.register(RemotePluginProxy(process, manifest.capabilities), name=manifest.key)
        log.info("plugin %s registered", manifest.key)

    def _unregister(self, key: str) -> None:
        process = self._processes.pop(key)
        self.pm.unregister(name=key)
        log.info("plugin %s unregistered", key)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            process.kill()
            return
        task = loop.create_task(process.stop())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _build_index(self) -> dict[str, dict[str, dict[str, CapabilityHandle]]]:
        """Plugin name → version → capability name → handle, collected through the hooks."""
        if self._index is not None:
            return self._index
        index: dict[str, dict[str, dict[str, CapabilityHandle]]] = {}
        for registered_name, plugin in self.pm.list_name_plugin():
            name, _, version = registered_name.partition("==")
            version = version or __version__
            caps = index.setdefault(name, {}).setdefault(version, {})
            for hook_name in KIND_HOOKS.values():
                for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                    if impl.plugin is plugin:
                        for capability in impl.function() or ():
                            handle = cast(CapabilityHandle, capability)
                            caps[handle.spec().name] = handle
        self._index = index
        return index

    def register_builtin(self, name: str, plugin: object) -> None:
        """Add an in-process plugin that a host service provides (the code nodes), named like ``core``."""
        if self.pm.get_plugin(name) is None:
            self.pm.register(plugin, name=name)
            self._service_plugins.add(name)
            self._index = None

    # -- lookups -------------------------------------------------------------------------

    def resolve(self, ref: str, version: str | None = None) -> CapabilityHandle:
        """Find ``plugin/capability``, at ``version`` or the newest enabled version.

        Raises:
            UnknownCapability: ``ref`` is malformed or the plugin lacks the capability.
            PluginNotFound: No such plugin (or version) is installed.
            PluginDisabled: It is installed but disabled.
        """
        plugin, slash, name = ref.partition("/")
        if not slash or not plugin or not name:
            raise UnknownCapability(
                f"{ref!r} is not a capability reference; write PLUGIN/CAPABILITY, e.g. 'http/request' "
                "('synthral capabilities' lists them)"
            )
        self.refresh()
        versions = self._build_index().get(plugin)
        if not versions:
            self._raise_missing(plugin, None)
        assert versions is not None
        if version is None:
            version = sort_versions(list(versions))[-1]
        elif version not in versions:
            self._raise_missing(plugin, version)
        capabilities = versions[version]
        handle = capabilities.get(name)
        if handle is None:
            raise UnknownCapability(
                f"plugin {plugin} {version} has no capability {name!r}; it has: {', '.join(sorted(capabilities))}",
                details={"plugin": plugin, "version": version, "capability": name},
            )
        return handle

    def _raise_missing(self, plugin: str, version: str | None) -> None:
        installed = [m for m in self._manifests.values() if plugin in (m.name, m.dist)]
        if version is not None:
            installed = [m for m in installed if m.version == version]
        if installed:
            raise PluginDisabled(
                f"plugin {plugin}{'' if version is None else ' ' + version} is disabled; "
                f"enable it with 'synthral plugin enable {plugin}'",
                details={"plugin": plugin},
            )
        known = sorted({m.name for m in self._manifests.values()} | set(BUILTIN_PLUGINS))
        what = plugin if version is None else f"{plugin} {version}"
        raise PluginNotFound(
            f"no plugin {what} is installed (installed: {', '.join(known)}); "
            f"install it with 'synthral plugin install PATH|NAME==VERSION'",
            details={"plugin": plugin, "version": version},
        )

    def catalog(self) -> list[CatalogEntry]:
        """Every capability of every enabled plugin version."""
        self.refresh()
        entries: list[CatalogEntry] = []
        for plugin, versions in sorted(self._build_index().items()):
            for version in sort_versions(list(versions)):
                for handle in versions[version].values():
                    builtin = plugin in BUILTIN_PLUGINS or plugin in self._service_plugins
                    entries.append(CatalogEntry(plugin, version, builtin, handle.spec()))
        return entries

    def plugins(self) -> list[PluginInfo]:
        """Built-in and installed plugins, enabled or not."""
        self.refresh()
        infos = [
            PluginInfo(
                name=name,
                version=__version__,
                dist="synthral",
                summary=(module.__doc__ or "").strip().splitlines()[0],
                enabled=True,
                builtin=True,
                capabilities=sorted(self._build_index().get(name, {}).get(__version__, {})),
                process={"state": "in-process"},
            )
            for name, module in BUILTIN_PLUGINS.items()
        ]
        disabled = set(self.layout.read_state().disabled)
        for key in sorted(self._manifests, key=lambda k: (self._manifests[k].name, k)):
            manifest = self._manifests[key]
            process = self._processes.get(key)
            infos.append(
                PluginInfo(
                    name=manifest.name,
                    version=manifest.version,
                    dist=manifest.dist,
                    summary=manifest.summary,
                    enabled=key not in disabled,
                    builtin=False,
                    capabilities=sorted(str(c.get("name")) for c in manifest.capabilities),
                    manifest=manifest,
                    process=process.describe() if process is not None else {"state": "disabled"},
                )
            )
        return infos

    def plugin_versions(self, name: str) -> list[PluginInfo]:
        """The installed versions of ``name`` (plugin or distribution name), oldest first.

        Raises:
            PluginNotFound: None is installed.
        """
        found = [info for info in self.plugins() if name in (info.name, info.dist)]
        if not found:
            self._raise_missing(name, None)
        order = sort_versions([info.version for info in found])
        return sorted(found, key=lambda info: order.index(info.version))

    def process(self, name: str, version: str) -> PluginProcess:
        """The supervised process of an enabled installed version."""
        self.refresh()
        key = f"{name}=={version}"
        if key not in self._processes:
            self._raise_missing(name, version)
        return self._processes[key]

    # -- calls ---------------------------------------------------------------------------

    def context(
        self,
        *,
        timeout: float | None = None,
        secrets: dict[str, str] | None = None,
        execution_id: str | None = None,
        node_id: str | None = None,
        attempt: int = 1,
        idempotency_key: str | None = None,
        events: EventSink | None = None,
        host: HostServices | None = None,
        workspace_id: str | None = None,
    ) -> Context:
        """A call context bound to this host's blob store; ``host`` answers the call's callbacks.

        ``workspace_id`` chooses the network policy the call gets (that workspace's allow-list).
        """
        return Context(
            network=self.egress.policy(workspace_id),
            blobs=self.blobs,
            timeout=self.settings.plugins.call_timeout if timeout is None else timeout,
            secrets=secrets,
            execution_id=execution_id,
            node_id=node_id,
            attempt=attempt,
            idempotency_key=idempotency_key,
            log=logging.getLogger("synthral.builtins"),
            events=events,
            host=host,
        )

    async def invoke(
        self,
        ref: str,
        payload: object,
        *,
        config: object = None,
        operation: str | None = None,
        version: str | None = None,
        context: Context | None = None,
    ) -> JSONObject:
        """Resolve ``ref`` and call it once; the operation defaults to the only one it has.

        Raises:
            UnknownOperation: ``operation`` is missing and the capability has several.
            SynthralError: Whatever the capability raised.
        """
        handle = self.resolve(ref, version)
        operations = handle.spec().operations
        if operation is None:
            if len(operations) != 1:
                raise UnknownOperation(
                    f"{ref} has several operations ({', '.join(sorted(operations))}); name the one to call",
                    details={"known": [*sorted(operations)]},
                )
            operation = next(iter(operations))
        return await handle.call(operation, {} if config is None else config, payload, context or self.context())

    # -- changes -------------------------------------------------------------------------

    async def install(
        self,
        source: str,
        *,
        reinstall: bool = False,
        progress: ProgressFn | None = None,
        grant: GrantRequest | None = None,
        actor: str | None = None,
    ) -> Manifest:
        """Install a plugin version and make it callable at once (see :class:`Installer`)."""
        manifest = await self.installer.install(
            source, reinstall=reinstall, progress=progress, grant=grant, actor=actor
        )
        key = manifest.key
        if key in self._processes:  # a reinstall: the old process serves the old venv
            self._unregister(key)
        self.refresh(force=True)
        return manifest

    async def remove(self, name: str, version: str | None = None, *, purge: bool = False) -> list[Manifest]:
        """Stop and delete one version, or every version, of a plugin.

        Args:
            name: Plugin or distribution name.
            version: The version to remove; all when ``None``.
            purge: Also delete the plugin's data directory (only when no version is left).

        Raises:
            PluginNotFound: Nothing matches.
            ConfigurationError: ``name`` is a built-in.
        """
        if name in BUILTIN_PLUGINS:
            raise ConfigurationError(f"{name} is built into the host and cannot be removed; disable its nodes instead")
        self.refresh(force=True)
        matches = [m for m in self._manifests.values() if name in (m.name, m.dist)]
        if version is not None:
            matches = [m for m in matches if m.version == version]
        if not matches:
            self._raise_missing(name, version)
        for manifest in matches:
            process = self._processes.pop(manifest.key, None)
            if process is not None:
                self.pm.unregister(name=manifest.key)
                await process.stop()
        trash = []
        with self.layout.lock():
            for manifest in matches:
                version_dir = self.layout.version_dir(manifest.name, manifest.version)
                if version_dir.is_dir():
                    target = self.layout.trash_dir(manifest.name)
                    version_dir.rename(target / "old")
                    trash.append(target)
            state = self.layout.read_state()
            removed = {m.key for m in matches}
            state.disabled = [key for key in state.disabled if key not in removed]
            self.layout.write_state(state)
        for path in trash:
            shutil.rmtree(path, ignore_errors=True)
        plugin_name = matches[0].name
        if purge and not any(m.name == plugin_name for m in self.layout.manifests()):
            shutil.rmtree(self.layout.root / plugin_name, ignore_errors=True)
        self.refresh(force=True)
        return matches

    async def set_enabled(self, name: str, version: str | None, enabled: bool) -> list[str]:
        """Enable or disable one version (or all versions) of a plugin; returns the keys changed."""
        if name in BUILTIN_PLUGINS:
            raise ConfigurationError(f"{name} is built into the host and is always enabled")
        self.refresh(force=True)
        matches = [m for m in self._manifests.values() if name in (m.name, m.dist)]
        if version is not None:
            matches = [m for m in matches if m.version == version]
        if not matches:
            self._raise_missing(name, version)
        with self.layout.lock():
            state = self.layout.read_state()
            keys = {m.key for m in matches}
            state.disabled = sorted(set(state.disabled) - keys) if enabled else sorted(set(state.disabled) | keys)
            self.layout.write_state(state)
        self.refresh(force=True)
        return sorted(keys)

    async def close(self) -> None:
        """Stop every plugin process."""
        await asyncio.gather(*(process.stop() for process in self._processes.values()), return_exceptions=True)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def __aenter__(self) -> PluginHost:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def sdk_version() -> str:
    """The SDK version plugin venvs get."""
    return synthral_sdk.__version__
