"""The connector test runner: call one action (or the connection check) with a credential.

Used by ``synthral connector test`` and ``POST /api/v1/connectors/{slug}/test``
(:meth:`ConnectorService.test <synthral.services.connectors.ConnectorService.test>`), on
the connector version :class:`~synthral.services.connectors.ConnectorCatalog` picks. A failure of
the call is the test's result, not an error of the runner: the answer says what the service
said and how long it took. Without an input the action's first declared example is used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from synthral.errors import ConfigurationError, NotFound
from synthral.services.connectors import Connector, ConnectorCatalog
from synthral_sdk.errors import SynthralError
from synthral_sdk.types import JSONObject

__all__ = ["ConnectorTestResult", "run_connector_test"]


@dataclass
class ConnectorTestResult:
    """The outcome of one test call."""

    connector: str
    plugin: str
    version: str
    action: str
    ok: bool
    duration_ms: float
    output: JSONObject | None = None
    error: dict[str, Any] | None = None
    input: JSONObject = field(default_factory=dict)


async def run_connector_test(
    catalog: ConnectorCatalog,
    connector: Connector,
    *,
    secrets: dict[str, str],
    action: str | None = None,
    payload: JSONObject | None = None,
    config: JSONObject | None = None,
) -> ConnectorTestResult:
    """Call ``action`` (the connection check when ``None``) of ``connector`` and report what happened.

    The connector is the version the catalog's one rule picked (:meth:`ConnectorCatalog.get`).

    Raises:
        NotFound: The connector has no such action.
        ConfigurationError: No input was given and the action declares no example.
    """
    slug = connector.slug
    host = catalog.plugins
    if action is None:
        ref, operation, data = connector.ref, "test_connection", {}
    else:
        actions = {e.spec.name: e for e in catalog.actions(connector)}
        target = actions.get(action)
        if target is None:
            raise NotFound(
                f"connector {slug!r} has no action {action[:100]!r}; it has: {', '.join(sorted(actions)) or 'none'}"
            )
        examples = target.spec.extra.get("examples")
        if payload is None:
            if not isinstance(examples, list) or not examples or not isinstance(examples[0], dict):
                raise ConfigurationError(
                    f"action {slug}.{action} declares no example input; send the input to test it with"
                )
            example_input = examples[0].get("input")
            payload = example_input if isinstance(example_input, dict) else {}
        ref, operation, data = target.ref, "run", payload
    started = time.perf_counter()
    context = host.context(secrets=secrets, timeout=60.0)
    try:
        output = await host.invoke(
            ref, data, config=config or {}, operation=operation, version=connector.version, context=context
        )
    except SynthralError as exc:
        return ConnectorTestResult(
            slug,
            connector.plugin,
            connector.version,
            action or "test_connection",
            False,
            (time.perf_counter() - started) * 1000,
            error={"code": exc.code, "type": exc.error_type, "message": exc.message, "details": exc.details},
            input=data,
        )
    ok = bool(output.get("ok", True)) if action is None else True
    return ConnectorTestResult(
        slug,
        connector.plugin,
        connector.version,
        action or "test_connection",
        ok,
        (time.perf_counter() - started) * 1000,
        output=output,
        input=data,
    )
