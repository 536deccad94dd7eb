"""The SSRF policy's settings: which addresses plugins' requests may reach, per workspace.

The policy itself is the SDK's (:class:`synthral_sdk.network.NetworkPolicy`); the host hands
each call the policy of the call's workspace, narrowed to the hosts the plugin was granted, and
the SDK's httpx clients apply it. A sandboxed plugin process's egress proxy applies the same
policy to every connection the process makes (:meth:`EgressSettings.process_policy`).

``SYNTHRAL_EGRESS_ALLOW``
    Networks, addresses and host names every workspace may reach besides public
    addresses, separated by commas.
``SYNTHRAL_EGRESS_ALLOW_<WORKSPACE>``
    The same for one workspace: its slug upper-cased, ``-`` as ``_`` (``acme-eu`` →
    ``SYNTHRAL_EGRESS_ALLOW_ACME_EU``).

Loopback is reachable in local mode only (``serve --local``, the desktop, ``synthral run``,
``invoke`` and ``demo``); a server (``serve``, ``worker``) refuses it unless allowed above.
These knobs stand apart from :class:`synthral.config.Settings` on purpose, to be folded
into the settings tree as one ``egress`` section.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from synthral.config import EGRESS_ALLOW_VARIABLE, SecuritySettings, Settings
from synthral.errors import ConfigurationError
from synthral_sdk.network import NetworkPolicy

__all__ = ["ALLOW_VARIABLE", "EgressSettings", "workspace_variable"]

ALLOW_VARIABLE: Final = EGRESS_ALLOW_VARIABLE
log = logging.getLogger("synthral.security")


def workspace_variable(slug: str) -> str:
    """The variable that holds one workspace's allow-list: ``acme-eu`` → ``SYNTHRAL_EGRESS_ALLOW_ACME_EU``."""
    return f"{ALLOW_VARIABLE}_{re.sub(r'[^A-Za-z0-9]', '_', slug).upper()}"


def _entries(variable: str, raw: str) -> tuple[str, ...]:
    entries = tuple(item for item in re.split(r"[,\s]+", raw) if item)
    try:
        NetworkPolicy(allow=entries)
    except ValueError as exc:
        raise ConfigurationError(f"{variable}: {exc}", details={"variable": variable}) from None
    return entries


@dataclass(frozen=True)
class EgressSettings:
    """What plugins' requests may reach besides public addresses.

    Attributes:
        local: Local mode: loopback is reachable too.
        allow: Allowed for every workspace (``SYNTHRAL_EGRESS_ALLOW``).
        by_variable: Per-workspace lists by variable name, as configured.
        by_workspace: Per-workspace lists by workspace id, once :meth:`resolved` against
            the workspaces that exist.
    """

    local: bool = False
    allow: tuple[str, ...] = ()
    by_variable: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    by_workspace: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, local: bool = False) -> EgressSettings:
        """Read the allow-lists from the environment, through the settings tree.

        Raises:
            ConfigurationError: An entry is not a network, an address or a host name.
        """
        return cls.from_settings(Settings.load(environ).security, local=local)

    @classmethod
    def from_settings(cls, security: SecuritySettings, *, local: bool = False) -> EgressSettings:
        """The allow-lists of the host's settings tree (``settings.security``).

        Raises:
            ConfigurationError: An entry is not a network, an address or a host name.
        """
        prefix = ALLOW_VARIABLE + "_"
        return cls(
            local=local,
            allow=_entries(ALLOW_VARIABLE, security.egress_allow),
            by_variable={
                prefix + name.upper(): _entries(prefix + name.upper(), value)
                for name, value in security.egress_allow_workspaces.items()
            },
        )

    def resolved(self, workspaces: Iterable[tuple[str, str]]) -> EgressSettings:
        """These settings with the per-workspace lists keyed by the ids of ``(id, slug)`` workspaces.

        A variable that names no workspace is reported in the log (a typo, or a workspace
        made after the process started: restart it).
        """
        by_workspace: dict[str, tuple[str, ...]] = {}
        used: set[str] = set()
        for workspace_id, slug in workspaces:
            variable = workspace_variable(slug)
            if variable in self.by_variable:
                by_workspace[workspace_id] = self.by_variable[variable]
                used.add(variable)
        for variable in sorted(set(self.by_variable) - used):
            log.warning("%s names no workspace; check the slug (upper-cased, '-' as '_')", variable)
        return replace(self, by_workspace=by_workspace)

    def policy(self, workspace_id: str | None) -> NetworkPolicy:
        """The policy for a call in ``workspace_id`` (None: a call outside every workspace)."""
        extra = self.by_workspace.get(workspace_id, ()) if workspace_id is not None else ()
        return _policy(self.local, self.allow + extra)

    def process_policy(self) -> NetworkPolicy:
        """What any call of a plugin process may reach: every workspace's allow-list together.

        A process serves calls of every workspace, so its OS sandbox's egress proxy allows
        their union; each call's own policy, which the SDK's clients send along, narrows it to
        that call's workspace.
        """
        extra = tuple(dict.fromkeys(entry for entries in self.by_workspace.values() for entry in entries))
        return _policy(self.local, self.allow + tuple(entry for entry in extra if entry not in self.allow))


@functools.lru_cache(maxsize=1024)
def _policy(local: bool, allow: tuple[str, ...]) -> NetworkPolicy:
    return NetworkPolicy(allow_loopback=local, allow=allow)
