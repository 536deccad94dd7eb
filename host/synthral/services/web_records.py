"""What scraping and browsing remember across calls: domain profiles, proxy use, content seen, grants.

One owner for the tables every web service writes besides its own: :class:`WebRecords`.
Scraping, crawls, browsers and page watches call it; none of them writes these tables itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection

from synthral.errors import InputInvalid, NotFound
from synthral.services.secrets import CredentialService
from synthral.store.db import Database
from synthral.store.tables import EXECUTION, WORKFLOW, new_id, utcnow
from synthral.store.web_tables import CONTENT_CHECKSUM, DOMAIN_PROFILE, PROXY_LOG

__all__ = ["PROXY_CREDENTIAL", "DomainProfileWrite", "WebRecords"]

PROFILE = DOMAIN_PROFILE
CHECKSUM = CONTENT_CHECKSUM
RUNS = EXECUTION
WORKFLOWS = WORKFLOW

PROXY_CREDENTIAL: Final = "proxies"
"""The workspace credential holding the proxy pool (one proxy URL per line), granted as the secret ``proxies``."""
LLM_CREDENTIAL: Final = "llm_api_key"


class DomainProfileWrite(BaseModel):
    """A domain's behaviour profile as people set it."""

    model_config = ConfigDict(extra="forbid")

    max_requests_per_hour: int | None = Field(default=None, ge=1, le=10_000_000)
    requests_per_second: float | None = Field(default=None, gt=0, le=1000)
    concurrency: int | None = Field(default=None, ge=1, le=64)
    requires_login: bool = False
    captcha_likelihood: str = Field(default="low", pattern="^(low|medium|high)$")
    scroll_needed: bool = False
    idle_before_click: float = Field(default=0.0, ge=0, le=30)
    user_agent: str | None = Field(default=None, max_length=512)
    headers: dict[str, str] = Field(default_factory=dict)


def _workspace_is(column: Any, workspace_id: str | None) -> Any:
    return column.is_(None) if workspace_id is None else column == workspace_id


def domain_chain(url: str) -> list[str]:
    """The URL's host and its parent domains, nearest first: a.b.example.com, b.example.com, example.com."""
    host = (urlsplit(url).hostname or "").lower()
    parts = host.split(".")
    return [".".join(parts[index:]) for index in range(max(1, len(parts) - 1))] if host else []


class WebRecords:
    """Domain profiles, the proxy log, content checksums, and the secrets web calls are granted."""

    def __init__(self, database: Database, credentials: CredentialService | None = None) -> None:
        self.database = database
        self.credentials = credentials

    async def workspace_of(self, execution_id: str | None) -> str | None:
        """The workspace a workflow run belongs to (None for local runs)."""
        if execution_id is None:
            return None
        query = (
            select(WORKFLOWS.c.workspace_id)
            .select_from(RUNS.join(WORKFLOWS, RUNS.c.workflow_id == WORKFLOWS.c.id))
            .where(RUNS.c.id == execution_id)
        )
        async with self.database.engine.connect() as connection:
            return (await connection.execute(query)).scalar()

    async def grants(
        self, workspace_id: str | None, *, proxy_credential: str | None, llm_credential: str | None
    ) -> dict[str, str]:
        """The secrets a web call gets: the proxy pool and an LLM key, from the named workspace credentials.

        Raises:
            NotFound: A named credential does not exist (the message says how to create it).
        """
        granted: dict[str, str] = {}
        for slot, name in ((PROXY_CREDENTIAL, proxy_credential), (LLM_CREDENTIAL, llm_credential)):
            if not name:
                continue
            if self.credentials is None or workspace_id is None:
                raise InputInvalid(f"the credential {name!r} needs a workspace; run this in one")
            try:
                value = await self.credentials.get_value(workspace_id, name)
            except NotFound:
                raise NotFound(
                    f"no credential {name!r} in this workspace; create it with POST /api/v1/credentials "
                    + ("(one proxy URL per line)" if slot == PROXY_CREDENTIAL else "(the API key)"),
                    details={"credential": name},
                ) from None
            granted[slot] = value if isinstance(value, str) else str(value.get(slot) or value.get("value") or "")
        return granted

    # -- domain profiles -----------------------------------------------------------------

    async def profiles_for(self, workspace_id: str | None, urls: Iterable[str]) -> list[dict[str, Any]]:
        """The profiles of the URLs' domains (and parent domains), as the SDK's DomainRules read them."""
        domains = sorted({domain for url in urls for domain in domain_chain(url)})
        if not domains:
            return []
        async with self.database.engine.connect() as connection:
            rows = (
                (
                    await connection.execute(
                        select(PROFILE).where(
                            PROFILE.c.domain.in_(domains), _workspace_is(PROFILE.c.workspace_id, workspace_id)
                        )
                    )
                )
                .mappings()
                .all()
            )
        return [_rules(row) for row in rows]

    async def put_profile(self, workspace_id: str | None, domain: str, profile: DomainProfileWrite) -> dict[str, Any]:
        """Create or replace a domain's profile (healed selectors are kept)."""
        domain = domain.strip().lower().rstrip(".")
        if not domain or "/" in domain or ":" in domain:
            raise InputInvalid(f"{domain!r} is not a host name; give the domain alone, like shop.example.com")
        values = profile.model_dump(exclude={"headers"}) | {"updated_at": utcnow()}

        def write(connection: Connection) -> None:
            row = connection.execute(
                select(PROFILE.c.id, PROFILE.c.config).where(
                    PROFILE.c.domain == domain, _workspace_is(PROFILE.c.workspace_id, workspace_id)
                )
            ).first()
            config = dict((row.config if row is not None else None) or {}) | {"headers": profile.headers}
            if row is None:
                connection.execute(
                    PROFILE.insert(),
                    {"id": new_id(), "workspace_id": workspace_id, "domain": domain, "config": config, **values},
                )
            else:
                connection.execute(update(PROFILE).where(PROFILE.c.id == row.id).values(config=config, **values))

        await self.database.write(write)
        [found] = [p for p in await self.profiles_for(workspace_id, [f"http://{domain}/"]) if p["domain"] == domain]
        return found

    async def remember_selectors(
        self, workspace_id: str | None, url: str, fingerprints: dict[str, Any], healed: list[dict[str, Any]]
    ) -> None:
        """Keep the fields' element fingerprints and healed selectors in the domain's profile."""
        if not fingerprints and not healed:
            return
        domain = (urlsplit(url).hostname or "").lower()

        def write(connection: Connection) -> None:
            row = connection.execute(
                select(PROFILE.c.id, PROFILE.c.config).where(
                    PROFILE.c.domain == domain, _workspace_is(PROFILE.c.workspace_id, workspace_id)
                )
            ).first()
            config = dict((row.config if row is not None else None) or {})
            selectors = dict(config.get("selectors") or {})
            for name, print_ in fingerprints.items():
                selectors[name] = {**dict(selectors.get(name) or {}), "fingerprint": print_}
            for proposal in healed:
                entry = dict(selectors.get(proposal["field"]) or {})
                entry["healed"] = [*list(entry.get("healed") or [])[-9:], proposal | {"at": utcnow().isoformat()}]
                entry["selector"] = proposal["selector"]
                selectors[proposal["field"]] = entry
            config["selectors"] = selectors
            if row is None:
                connection.execute(
                    PROFILE.insert(),
                    {
                        "id": new_id(),
                        "workspace_id": workspace_id,
                        "domain": domain,
                        "config": config,
                        "updated_at": utcnow(),
                    },
                )
            else:
                connection.execute(
                    update(PROFILE).where(PROFILE.c.id == row.id).values(config=config, updated_at=utcnow())
                )

        await self.database.write(write)

    async def selector_memory(self, workspace_id: str | None, url: str) -> dict[str, Any]:
        """Field → remembered fingerprint, from the domain's profile."""
        domain = (urlsplit(url).hostname or "").lower()
        for profile in await self.profiles_for(workspace_id, [url]):
            if profile["domain"] == domain:
                selectors = profile.get("selectors") or {}
                return {name: entry["fingerprint"] for name, entry in selectors.items() if entry.get("fingerprint")}
        return {}

    # -- proxy log -----------------------------------------------------------------------

    def log_proxies_in(
        self, connection: Connection, workspace_id: str | None, agent_id: str | None, events: list[dict[str, Any]]
    ) -> None:
        """Add proxy uses to the log inside the caller's write transaction."""
        if not events:
            return
        connection.execute(
            PROXY_LOG.insert(),
            [
                {
                    "id": new_id(),
                    "workspace_id": workspace_id,
                    "ip_id": event["proxy_id"],
                    "proxy": event["proxy"],
                    "agent_id": agent_id,
                    "domain_scraped": event["domain"],
                    "status_code": event["status_code"],
                    "ok": event["ok"],
                    "retry_count": event.get("retry_count", 0),
                    "block_reason": event.get("block_reason"),
                    "latency_ms": event.get("latency_ms", 0),
                    "timestamp": utcnow(),
                }
                for event in events
            ],
        )

    async def proxy_log(self, workspace_id: str | None, limit: int = 100) -> list[dict[str, Any]]:
        """The latest proxy uses of the workspace, newest first."""
        async with self.database.engine.connect() as connection:
            rows = (
                (
                    await connection.execute(
                        select(PROXY_LOG)
                        .where(_workspace_is(PROXY_LOG.c.workspace_id, workspace_id))
                        .order_by(PROXY_LOG.c.timestamp.desc())
                        .limit(limit)
                    )
                )
                .mappings()
                .all()
            )
        return [dict(row) for row in rows]

    # -- content checksums ---------------------------------------------------------------

    def seen_in(
        self, connection: Connection, workspace_id: str | None, checksum: str, url: str, job_id: str | None
    ) -> bool:
        """Record content by checksum inside the caller's transaction; True when it was seen before."""
        key = workspace_id or "-"
        now = utcnow()
        found = connection.execute(
            select(CHECKSUM.c.id, CHECKSUM.c.first_url).where(
                and_(CHECKSUM.c.workspace_key == key, CHECKSUM.c.checksum == checksum)
            )
        ).first()
        if found is None:
            connection.execute(
                CHECKSUM.insert(),
                {
                    "id": new_id(), "workspace_key": key, "checksum": checksum, "first_url": url,
                    "first_job_id": job_id, "seen_count": 1, "first_seen_at": now, "last_seen_at": now,
                },
            )  # fmt: skip
            return False
        connection.execute(
            update(CHECKSUM)
            .where(CHECKSUM.c.id == found.id)
            .values(seen_count=CHECKSUM.c.seen_count + 1, last_seen_at=now)
        )
        return bool(found.first_url != url)

    async def checksum_count(self, workspace_id: str | None) -> int:
        """How many distinct contents the workspace has seen."""
        async with self.database.engine.connect() as connection:
            return int(
                (
                    await connection.execute(
                        select(func.count())
                        .select_from(CHECKSUM)
                        .where(CHECKSUM.c.workspace_key == (workspace_id or "-"))
                    )
                ).scalar()
                or 0
            )


def _rules(row: Any) -> dict[str, Any]:
    config = row["config"] or {}
    return {
        "domain": row["domain"],
        "requests_per_second": row["requests_per_second"],
        "max_requests_per_hour": row["max_requests_per_hour"],
        "concurrency": row["concurrency"],
        "user_agent": row["user_agent"],
        "headers": config.get("headers") or {},
        "scroll_needed": row["scroll_needed"],
        "idle_before_click": row["idle_before_click"],
        "selectors": config.get("selectors") or {},
        "requires_login": row["requires_login"],
        "captcha_likelihood": row["captcha_likelihood"],
    }
