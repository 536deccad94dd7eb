"""Browser sessions: actions run on a browser plugin, with cookies and storage kept between steps.

A session is a :class:`BrowserSession` row whose storage state (cookies, local storage) the
host keeps sealed and never returns (:mod:`synthral.services.browser_state`); each call of
:meth:`BrowserService.execute` hands the state to the browser plugin as a blob for that call,
records every action it ran as a :class:`BrowserAction` (files such as screenshots as blob
references), and seals the state the plugin returns for the session's next step. The API and
the ``browser/run`` node both come through here.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from synthral.errors import Conflict, InputInvalid, NotFound, SynthralError
from synthral.plugins.host import PluginHost
from synthral.services.blob_grants import BlobGrants, blob_refs
from synthral.services.browser_state import StateVault
from synthral.services.web_records import WebRecords
from synthral.store.blob_tables import grant_blobs
from synthral.store.db import Database
from synthral.store.tables import new_id, utcnow
from synthral.store.web_tables import BROWSER_ACTION, BROWSER_SESSION
from synthral_sdk.types import BlobRef

__all__ = ["DEFAULT_BROWSER", "BrowserRequest", "BrowserService"]

SESSION = BROWSER_SESSION
ACTION = BROWSER_ACTION
DEFAULT_BROWSER: Final = "browser-playwright/browser"


class BrowserRequest(BaseModel):
    """Actions to run in a session (a new one unless ``session_id`` names one)."""

    model_config = ConfigDict(extra="forbid")

    actions: list[dict[str, JsonValue]] = Field(min_length=1, max_length=500, description="goto, click, fill...")
    session_id: str | None = Field(default=None, description="Continue this session; a new one when unset.")
    engine: str = Field(default=DEFAULT_BROWSER, description="A browser capability, 'plugin/capability'.")
    config: dict[str, JsonValue] = Field(default_factory=dict, description="The engine's config (timeouts, viewport).")
    continue_on_error: bool = False
    proxy_credential: str | None = Field(default=None, description="A workspace credential listing proxies.")
    close: bool = Field(default=False, description="Close the session after these actions.")


def _workspace_is(workspace_id: str | None) -> Any:
    return SESSION.c.workspace_id.is_(None) if workspace_id is None else SESSION.c.workspace_id == workspace_id


class BrowserService:
    """Runs browser actions in sessions and keeps their record."""

    def __init__(self, database: Database, plugins: PluginHost, records: WebRecords, vault: StateVault) -> None:
        self.database = database
        self.plugins = plugins
        self.records = records
        self.vault = vault
        self.grants = BlobGrants(database)

    async def open_session(
        self,
        *,
        workspace_id: str | None,
        engine: str = DEFAULT_BROWSER,
        name: str | None = None,
        execution_id: str | None = None,
        user_id: str | None = None,
    ) -> str:
        """Make a session, or find the run's session of that name; return its id."""
        now = utcnow()

        def write(connection: Connection) -> str:
            if execution_id is not None and name is not None:
                found = connection.execute(
                    select(SESSION.c.id).where(SESSION.c.execution_id == execution_id, SESSION.c.name == name)
                ).scalar()
                if found is not None:
                    return str(found)
            session_id = new_id()
            connection.execute(
                SESSION.insert(),
                {
                    "id": session_id,
                    "workspace_id": workspace_id,
                    "engine": engine,
                    "name": name,
                    "status": "open",
                    "actions": 0,
                    "execution_id": execution_id,
                    "created_by": user_id,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            return session_id

        return await self.database.write(write)

    async def execute(
        self,
        request: BrowserRequest,
        *,
        workspace_id: str | None,
        user_id: str | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """Run the actions in the session and record them; return the session id and each action's result.

        Raises:
            NotFound: ``session_id`` names no session of the workspace.
            Conflict: The session is closed.
            SynthralError: The browser plugin failed (a killed browser is retryable).
            BlobNotFound: Outside a run, the actions or config name a blob the workspace was not given.
        """
        given = session_id or request.session_id
        if given is None:
            await self._check_blobs(workspace_id, request)
            session_id = await self.open_session(workspace_id=workspace_id, engine=request.engine, user_id=user_id)
        else:
            session_id = given
        session = await self._row(workspace_id, session_id)
        if given is not None and session["execution_id"] is None:  # a run's references were checked where they entered
            await self._check_blobs(workspace_id, request)
        if session["status"] != "open":
            raise Conflict(
                f"browser session {session_id} is {session['status']}; start a new one (leave session_id out)",
                details={"session_id": session_id},
            )
        secrets = await self.records.grants(
            workspace_id, proxy_credential=request.proxy_credential, llm_credential=None
        )
        payload: dict[str, Any] = {"actions": request.actions, "continue_on_error": request.continue_on_error}
        handed: BlobRef | None = None
        if session["state"]:  # opened into a blob for this call only
            handed = self.vault.open(session_id, session["state"])
            payload["storage_state"] = handed.model_dump(mode="json", by_alias=True, exclude_none=True)
        urls = [str(a.get("url")) for a in request.actions if isinstance(a, dict) and a.get("url")]
        if urls:
            payload["domain_profiles"] = await self.records.profiles_for(workspace_id, urls)
        context = self.plugins.context(secrets=secrets, execution_id=session["execution_id"])
        try:
            output = await self.plugins.invoke(session["engine"], payload, config=request.config, context=context)
        except SynthralError as exc:
            self._discard(handed)
            if exc.error_type == "InputInvalid":
                raise InputInvalid(exc.message, details=exc.details) from None
            await self._record_failure(session_id, request.actions, session["actions"], exc)
            raise
        sealed = self.vault.seal(session_id, output["storage_state"]) if output.get("storage_state") else None
        self._discard(handed)
        results = list(output.get("results") or [])  # type: ignore[arg-type]
        await self.database.write(
            lambda c: self._record(
                c,
                session_id,
                workspace_id=workspace_id,
                request=request,
                before=session["actions"],
                output=output,
                results=results,
                sealed=sealed,
            )
        )
        return {
            "session_id": session_id,
            "ok": output.get("ok"),
            "results": results,
            "url": output.get("url"),
            "title": output.get("title"),
            "refused": output.get("refused") or [],
        }

    async def _check_blobs(self, workspace_id: str | None, request: BrowserRequest) -> None:
        await self.grants.check(workspace_id, {"actions": request.actions, "config": request.config})

    def _record(
        self,
        connection: Connection,
        /,
        session_id: str,
        *,
        workspace_id: str | None,
        request: BrowserRequest,
        before: int,
        output: dict[str, Any],
        results: list[Any],
        sealed: dict[str, Any] | None,
    ) -> None:
        now = utcnow()
        rows: list[dict[str, Any]] = []
        for result in results:
            index = int(result["index"])
            value = {"value": result.get("value")}
            if result.get("file"):
                value["file"] = result["file"]
            rows.append(
                {
                    "id": new_id(),
                    "session_id": session_id,
                    "seq": before + len(rows) + 1,
                    "kind": result["action"],
                    "params": request.actions[index],
                    "ok": bool(result.get("ok")),
                    "result": value,
                    "error": result.get("error"),
                    "url": result.get("url"),
                    "duration_ms": int(result.get("duration_ms") or 0),
                    "created_at": now,
                }
            )
        if rows:
            connection.execute(ACTION.insert(), rows)
        files = [value["file"] for value in (row["result"] for row in rows) if "file" in value]
        if files and workspace_id is not None:  # handed back by reference: the workspace may use them
            grant_blobs(connection, workspace_id, blob_refs(files))
        values: dict[str, Any] = {"actions": before + len(rows), "updated_at": now, "last_url": output.get("url")}
        if sealed is not None:
            values["state"] = sealed
        if request.close:
            values["status"] = "closed"
        connection.execute(update(SESSION).where(SESSION.c.id == session_id).values(**values))
        self.records.log_proxies_in(connection, workspace_id, session_id, output.get("proxy_log") or [])

    def _discard(self, handed: BlobRef | None) -> None:
        if handed is not None:
            self.vault.discard(handed)

    async def _record_failure(
        self, session_id: str, actions: list[dict[str, JsonValue]], before: int, exc: SynthralError
    ) -> None:
        row = {
            "id": new_id(), "session_id": session_id, "seq": before + 1, "kind": str(actions[0].get("action", "?")),
            "params": {"actions": actions}, "ok": False, "result": None, "error": exc.message[:2000], "url": None,
            "duration_ms": 0, "created_at": utcnow(),
        }  # fmt: skip

        def write(connection: Connection) -> None:
            connection.execute(ACTION.insert(), row)
            connection.execute(
                update(SESSION).where(SESSION.c.id == session_id).values(actions=before + 1, updated_at=utcnow())
            )

        await self.database.write(write)

    async def _row(self, workspace_id: str | None, session_id: str) -> dict[str, Any]:
        async with self.database.engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(SESSION).where(SESSION.c.id == session_id, _workspace_is(workspace_id))
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no browser session {session_id!r} in this workspace", details={"session_id": session_id})
        return dict(row)

    async def session(self, workspace_id: str | None, session_id: str, *, limit: int = 500) -> dict[str, Any]:
        """A session (never its storage state) and its actions in order.

        Raises:
            NotFound: No such session in the workspace.
        """
        row = await self._row(workspace_id, session_id)
        row.pop("state", None)
        async with self.database.engine.connect() as connection:
            actions = (
                (
                    await connection.execute(
                        select(ACTION).where(ACTION.c.session_id == session_id).order_by(ACTION.c.seq).limit(limit)
                    )
                )
                .mappings()
                .all()
            )
            count = (await connection.execute(select(func.count()).where(ACTION.c.session_id == session_id))).scalar()
        row["actions"] = [dict(action) for action in actions]
        row["action_count"] = int(count or 0)
        return row

    async def close(self, workspace_id: str | None, session_id: str) -> None:
        """Close a session and forget its cookies and storage."""
        await self._row(workspace_id, session_id)
        await self.database.write(
            lambda c: c.execute(
                update(SESSION)
                .where(SESSION.c.id == session_id)
                .values(status="closed", state=None, updated_at=utcnow())
            )
        )
