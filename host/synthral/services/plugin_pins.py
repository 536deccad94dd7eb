"""Applying a checked plugin upgrade to saved workflows, and rolling it back.

Applying saves each chosen workflow as a new version pinning the new plugin version (its
graph unchanged; versions are immutable) and records the pin it replaced in
``plugin_upgrade``. Rolling back saves each again with the recorded pin. Running and
queued executions keep the version they started with.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import insert, select, update

from synthral.engine.repository import WorkflowNotFound, get_version, save_workflow
from synthral.errors import InputInvalid, NothingToRollBack, PluginNotFound, UpgradeNotClean
from synthral.plugins.host import PluginHost
from synthral.plugins.permissions import GrantRequest
from synthral.services.plugin_upgrade import DEFAULT_SAMPLES, SecretsFn, UpgradeChecker, UpgradeReport
from synthral.store.db import Database
from synthral.store.tables import WORKFLOW, WORKFLOW_VERSION, utcnow
from synthral.store.upgrade_tables import PLUGIN_UPGRADE
from synthral_sdk.types import JSONObject, JSONValue

__all__ = ["Applied", "PluginUpgrades", "Repinned"]


@dataclass(frozen=True)
class Repinned:
    """One workflow whose pin changed.

    Attributes:
        workflow_id, workflow: The workflow.
        from_version, to_version: The plugin version pinned before and after.
        workflow_version: The workflow version saved with the new pin.
    """

    workflow_id: str
    workflow: str
    from_version: str
    to_version: str
    workflow_version: int

    def to_json(self) -> JSONObject:
        """The form the CLI's ``--json`` and the API answer."""
        return {
            "workflow_id": self.workflow_id,
            "workflow": self.workflow,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "workflow_version": self.workflow_version,
        }


@dataclass
class Applied:
    """What an apply or a rollback changed.

    Attributes:
        plugin: The plugin.
        workflows: The workflows re-pinned.
        skipped: Workflows left alone, with why (already on that version, changed since).
        report: The check the apply was decided on (None for a rollback).
    """

    plugin: str
    workflows: list[Repinned] = field(default_factory=list)
    skipped: list[JSONObject] = field(default_factory=list)
    report: UpgradeReport | None = None

    def to_json(self) -> JSONObject:
        """The form the CLI's ``--json`` and the API answer."""
        return {
            "plugin": self.plugin,
            "workflows": [w.to_json() for w in self.workflows],
            "skipped": cast(JSONValue, self.skipped),
            "report": self.report.to_json() if self.report is not None else None,
        }


class PluginUpgrades:
    """Check, apply and roll back plugin upgrades: the one owner of ``plugin_upgrade``.

    Args:
        host: The plugin host.
        database: Saved workflows, history and the upgrade records.
        secrets: The engine's secret resolver (replays are granted what the recorded step was).
    """

    def __init__(self, host: PluginHost, database: Database, secrets: SecretsFn) -> None:
        self.host = host
        self.database = database
        self.checker = UpgradeChecker(host, database, secrets)

    async def check(
        self,
        plugin: str,
        version: str,
        *,
        samples: int = DEFAULT_SAMPLES,
        workspace_id: str | None = None,
        source: str | None = None,
        grant: GrantRequest | None = None,
    ) -> UpgradeReport:
        """Install ``version`` beside the old one if needed and replay history (:class:`UpgradeChecker`)."""
        return await self.checker.check(
            plugin, version, samples=samples, workspace_id=workspace_id, source=source, grant=grant
        )

    async def apply(
        self,
        plugin: str,
        version: str,
        *,
        workflows: Sequence[str] = (),
        accept_changes: bool = False,
        samples: int = DEFAULT_SAMPLES,
        workspace_id: str | None = None,
        source: str | None = None,
        grant: GrantRequest | None = None,
        actor: str | None = None,
    ) -> Applied:
        """Re-pin workflows to ``version`` when a fresh check is clean or ``accept_changes`` says so.

        Args:
            plugin: The plugin.
            version: The version to pin.
            workflows: Ids (or names) of the workflows to re-pin; empty: every workflow of the
                workspace whose latest version pins another version of the plugin.
            accept_changes: Apply even though the check found differences.
            samples: Recorded steps replayed per capability.
            workspace_id: Whose workflows and history (None: the local ones).
            source: Where to install ``version`` from when it is not installed.
            grant: What the installing person granted, should the new version ask for more.
            actor: Who applies it, for the record.

        Raises:
            WorkflowNotFound: A named workflow is not in the workspace.
            InputInvalid: A named workflow does not use the plugin.
            UpgradeNotClean: The check found differences and ``accept_changes`` is off;
                ``details['report']`` holds the report. Nothing was re-pinned.
        """
        report = await self.check(
            plugin, version, samples=samples, workspace_id=workspace_id, source=source, grant=grant
        )
        name = report.plugin
        targets, applied = await self._targets(name, version, workflows, workspace_id)
        applied.report = report
        if not targets:
            return applied
        if not report.clean and not accept_changes:
            counts = report.counts()
            raise UpgradeNotClean(
                f"upgrading {name} to {version} is not clean: {counts['changed']} changed, {counts['failing']} "
                f"failing and {counts['incompatible']} incompatible of {len(report.samples)} replayed steps. "
                "Nothing was re-pinned; review the differences and apply again accepting them",
                details={"plugin": name, "version": version, "report": report.to_json()},
            )
        batch = uuid.uuid4().hex
        now = utcnow()
        async with self.database.transaction() as connection:
            for workflow_id, old in targets:
                saved = await get_version(connection, workflow_id)
                pins = {**saved.plugin_versions, name: version}
                new = await save_workflow(connection, saved.workflow, pins, workspace_id=saved.workspace_id)
                await connection.execute(
                    insert(PLUGIN_UPGRADE).values(
                        id=uuid.uuid4().hex,
                        batch_id=batch,
                        plugin=name,
                        workflow_id=workflow_id,
                        workspace_id=saved.workspace_id,
                        from_version=old,
                        to_version=version,
                        workflow_version_before=saved.version,
                        workflow_version_after=new.version,
                        accepted_changes=not report.clean,
                        summary=report.counts(),
                        applied_by=actor,
                        applied_at=now,
                    )
                )
                applied.workflows.append(Repinned(workflow_id, saved.name, old, version, new.version))
        return applied

    async def _targets(
        self, plugin: str, version: str, chosen: Sequence[str], workspace_id: str | None
    ) -> tuple[list[tuple[str, str]], Applied]:
        """(workflow id, pinned version) of the workflows to re-pin, and the ones skipped."""
        scope = WORKFLOW.c.workspace_id.is_(None) if workspace_id is None else WORKFLOW.c.workspace_id == workspace_id
        query = (
            select(WORKFLOW.c.id, WORKFLOW.c.name, WORKFLOW_VERSION.c.plugin_versions)
            .join(
                WORKFLOW_VERSION,
                (WORKFLOW_VERSION.c.workflow_id == WORKFLOW.c.id) & (WORKFLOW_VERSION.c.version == WORKFLOW.c.version),
            )
            .where(scope)
            .order_by(WORKFLOW.c.name)
        )
        async with self.database.engine.connect() as connection:
            rows = list(await connection.execute(query))
        applied = Applied(plugin=plugin)
        by_key: dict[str, Any] = {}
        for row in rows:
            by_key[row.id] = row
            by_key.setdefault(row.name, row)
        picked: list[Any] = []
        for wanted in chosen:
            found = by_key.get(wanted)
            if found is None:
                raise WorkflowNotFound(
                    f"no workflow {wanted!r} here; name a saved workflow by id or name",
                    details={"workflow": wanted},
                )
            if plugin not in (found.plugin_versions or {}):
                raise InputInvalid(
                    f"workflow {found.name!r} does not use plugin {plugin}; leave it out of the upgrade",
                    details={"workflow": found.id, "plugin": plugin},
                )
            picked.append(found)
        if not chosen:
            picked = [row for row in rows if plugin in (row.plugin_versions or {})]
        targets = []
        for row in picked:
            pinned = str((row.plugin_versions or {})[plugin])
            if pinned == version:
                applied.skipped.append({"workflow_id": row.id, "workflow": row.name, "why": f"pins {version} already"})
            elif (row.id, pinned) not in targets:
                targets.append((row.id, pinned))
        return targets, applied

    async def rollback(self, plugin: str, *, workspace_id: str | None = None) -> Applied:
        """Restore the pins the latest apply of ``plugin`` in the workspace replaced.

        A workflow saved against another version since the apply is left alone (named in
        ``skipped``).

        Raises:
            NothingToRollBack: No apply of ``plugin`` is in force here.
            PluginNotFound: The version to go back to was removed meanwhile; reinstall it first.
        """
        scope = (
            PLUGIN_UPGRADE.c.workspace_id.is_(None)
            if workspace_id is None
            else PLUGIN_UPGRADE.c.workspace_id == workspace_id
        )
        query = (
            select(PLUGIN_UPGRADE)
            .where(PLUGIN_UPGRADE.c.plugin == plugin, PLUGIN_UPGRADE.c.rolled_back_at.is_(None), scope)
            .order_by(PLUGIN_UPGRADE.c.applied_at.desc(), PLUGIN_UPGRADE.c.id)
        )
        async with self.database.engine.connect() as connection:
            rows = list(await connection.execute(query))
        if not rows:
            raise NothingToRollBack(
                f"no upgrade of plugin {plugin} is in force here to roll back; check the plugin name, or re-pin "
                "workflows by applying an upgrade to the version you want",
                details={"plugin": plugin},
            )
        batch = [row for row in rows if row.batch_id == rows[0].batch_id]
        installed = {info.version for info in self.host.plugin_versions(plugin)}
        missing = sorted({row.from_version for row in batch} - installed)
        if missing:
            raise PluginNotFound(
                f"plugin {plugin} {', '.join(missing)} was removed since the upgrade; install it again, then roll back",
                details={"plugin": plugin, "versions": cast(JSONValue, missing)},
            )
        applied = Applied(plugin=plugin)
        now = utcnow()
        async with self.database.transaction() as connection:
            for row in batch:
                values: dict[str, Any] = {"rolled_back_at": now}
                try:
                    saved = await get_version(connection, row.workflow_id)
                except WorkflowNotFound:
                    saved = None
                if saved is None or saved.plugin_versions.get(plugin) != row.to_version:
                    applied.skipped.append(
                        {
                            "workflow_id": row.workflow_id,
                            "workflow": saved.name if saved else row.workflow_id,
                            "why": f"no longer pins {row.to_version}; left as it is",
                        }
                    )
                else:
                    pins = {**saved.plugin_versions, plugin: row.from_version}
                    new = await save_workflow(connection, saved.workflow, pins, workspace_id=saved.workspace_id)
                    values["rollback_version"] = new.version
                    applied.workflows.append(
                        Repinned(row.workflow_id, saved.name, row.to_version, row.from_version, new.version)
                    )
                await connection.execute(update(PLUGIN_UPGRADE).where(PLUGIN_UPGRADE.c.id == row.id).values(**values))
        return applied
