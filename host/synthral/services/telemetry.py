"""What a metrics scrape reads at the moment it happens: the queue from the database, plugin processes."""

from __future__ import annotations

import hmac
import ipaddress
from datetime import UTC, datetime

from sqlalchemy import func, select

from synthral.config import ObservabilitySettings
from synthral.engine.schedules import as_utc
from synthral.errors import AuthenticationFailed, Forbidden
from synthral.observability.metrics import ProcessSample, ScrapeSnapshot, render
from synthral.plugins.host import PluginHost
from synthral.services.admin import rss_bytes
from synthral.store.db import Database
from synthral.store.tables import EXECUTION, ExecutionStatus

__all__ = ["METRICS_TOKEN_ENV", "TelemetryService", "check_scrape"]

METRICS_TOKEN_ENV = "SYNTHRAL_METRICS_TOKEN"  # noqa: S105 -- the variable's name, not a token


def check_scrape(client_host: str | None, authorization: str | None, *, token: str | None) -> None:
    """Let a scrape through: with the scrape token when one is set, else from loopback only.

    Args:
        client_host: The peer's address.
        authorization: The ``Authorization`` header as sent.
        token: The scrape token (``SYNTHRAL_METRICS_TOKEN``); None lets only loopback scrape.

    Raises:
        AuthenticationFailed: A token is set and the request does not carry it.
        Forbidden: No token is set and the request does not come from this machine.
    """
    expected = token or None
    if expected is not None:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise AuthenticationFailed(
                "the metrics endpoint needs the scrape token: send 'Authorization: Bearer <token>' with the value "
                f"of {METRICS_TOKEN_ENV} (Prometheus: authorization.credentials in the scrape config)"
            )
        return
    try:
        loopback = client_host is not None and ipaddress.ip_address(client_host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise Forbidden(
            f"the metrics endpoint answers only this machine unless a scrape token is set; set {METRICS_TOKEN_ENV} "
            "on the server and send it as 'Authorization: Bearer <token>'"
        )


class TelemetryService:
    """The scrape's figures from the database and this process's plugin host.

    Args:
        database: Where the queue is.
        plugins: This process's plugin host (its processes' state).
        settings: The scrape token and the multiprocess folder.
    """

    def __init__(self, database: Database, plugins: PluginHost, settings: ObservabilitySettings) -> None:
        self.database = database
        self.plugins = plugins
        self.token = settings.metrics_token.get_secret_value() if settings.metrics_token is not None else None
        self.multiprocess_dir = settings.metrics_dir

    def check(self, client_host: str | None, authorization: str | None) -> None:
        """Let a scrape through, or refuse it (see :func:`check_scrape`)."""
        check_scrape(client_host, authorization, token=self.token)

    async def snapshot(self, *, now: datetime | None = None) -> ScrapeSnapshot:
        """Queue depth, the oldest due run's age, live runs, plugin processes (server-wide)."""
        moment = now or datetime.now(UTC)
        async with self.database.engine.connect() as connection:
            due = (
                await connection.execute(
                    select(func.count(), func.min(EXECUTION.c.started_at)).where(
                        EXECUTION.c.status == ExecutionStatus.QUEUED, EXECUTION.c.next_run_at <= moment
                    )
                )
            ).one()
            live: dict[str, int] = dict(
                (
                    await connection.execute(
                        select(EXECUTION.c.status, func.count())
                        .where(EXECUTION.c.status.in_((ExecutionStatus.RUNNING, ExecutionStatus.WAITING)))
                        .group_by(EXECUTION.c.status)
                    )
                ).all()
            )
        oldest = as_utc(due[1]) if due[1] is not None else None
        processes = []
        for info in self.plugins.plugins():
            if info.builtin:
                continue
            pid = info.process.get("pid")
            restarts = info.process.get("restarts", 0)
            processes.append(
                ProcessSample(
                    plugin=info.name,
                    version=info.version,
                    running=info.process.get("state") == "running",
                    restarts=restarts if isinstance(restarts, int) else 0,
                    rss_bytes=rss_bytes(pid) if isinstance(pid, int) else None,
                )
            )
        return ScrapeSnapshot(
            queue_depth=int(due[0]),
            oldest_queued_age_seconds=max(0.0, (moment - oldest).total_seconds()) if oldest else 0.0,
            running=int(live.get(ExecutionStatus.RUNNING, 0)),
            waiting=int(live.get(ExecutionStatus.WAITING, 0)),
            processes=processes,
        )

    async def render(self) -> bytes:
        """The Prometheus text of every series with the scrape-time gauges."""
        return render(await self.snapshot(), multiprocess_dir=self.multiprocess_dir)
