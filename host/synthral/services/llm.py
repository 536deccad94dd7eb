"""LLM calls through provider plugins: which provider answers, what it cost, and the record of it.

Every completion the host makes (an ``llm/chat`` step, an agent's turn, a plugin asking
``host/complete``) goes through :meth:`LLMService.complete`, which resolves the provider
capability, calls it with the step's granted secrets, prices the usage with the
operator's :class:`PriceTable` and records one ``llm_call`` row: the raw material of cost
analytics.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from synthral.errors import ConfigurationError, InputInvalid, SynthralError
from synthral.observability import hooks as observe
from synthral.plugins.host import PluginHost
from synthral.services.agent_models import LLMChoice
from synthral.services.batch import BatchInsert
from synthral.store.ai_tables import LLM_CALL
from synthral.store.db import Database
from synthral.store.tables import utcnow
from synthral_sdk import CapabilityKind, CompletionRequest, CompletionResult, Context

__all__ = ["DEFAULT_PRICES", "CallScope", "LLMChoice", "LLMService", "Price", "PriceTable"]

log = logging.getLogger("synthral.llm")

DEFAULT_PRICES: Final = Path(__file__).with_name("llm_prices.toml")
PRICES_FILE: Final = "llm-prices.toml"


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """The cost of one call."""
        return (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1_000_000


class PriceTable:
    """Prices per model: the shipped defaults, then the operator's ``$SYNTHRAL_HOME/llm-prices.toml``.

    A file holds ``[models."NAME"]`` tables with ``input_per_million`` and
    ``output_per_million``; NAME may end in ``*`` to match a family
    (``"claude-3-5-sonnet*"``). The operator's file wins and is re-read when it changes.
    """

    def __init__(self, home: Path | None) -> None:
        self.path = home / PRICES_FILE if home is not None else None
        self._defaults = self._read(DEFAULT_PRICES)
        self._own: dict[str, Price] = {}
        self._stamp: float | None = None

    @staticmethod
    def _read(path: Path) -> dict[str, Price]:
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path} is not valid TOML: {exc}; fix the file") from None
        prices: dict[str, Price] = {}
        for name, entry in (data.get("models") or {}).items():
            try:
                prices[name] = Price(float(entry["input_per_million"]), float(entry["output_per_million"]))
            except (KeyError, TypeError, ValueError):
                raise ConfigurationError(
                    f'{path}: [models."{name}"] needs numbers input_per_million and output_per_million'
                ) from None
        return prices

    def _current(self) -> dict[str, Price]:
        if self.path is None:
            return self._defaults
        try:
            stamp = os.stat(self.path).st_mtime
        except FileNotFoundError:
            self._own, self._stamp = {}, None
            return self._defaults
        if stamp != self._stamp:
            self._own, self._stamp = self._read(self.path), stamp
        return {**self._defaults, **self._own}

    def price(self, model: str) -> Price | None:
        """The price of ``model``: an exact name, else the longest matching ``*`` pattern."""
        prices = self._current()
        if model in prices:
            return prices[model]
        matches = [name for name in prices if "*" in name and fnmatch.fnmatchcase(model, name)]
        return prices[max(matches, key=len)] if matches else None

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """The cost of a call, or None when the model has no price."""
        price = self.price(model)
        return None if price is None else price.cost(input_tokens, output_tokens)

    def entries(self) -> dict[str, Price]:
        """Every known price, the operator's over the defaults."""
        return dict(sorted(self._current().items()))


@dataclass(frozen=True)
class CallScope:
    """Whom a call is for: recorded with it."""

    workspace_id: str | None = None
    execution_id: str | None = None
    node_id: str | None = None
    agent_task_id: str | None = None
    conversation_id: str | None = None


@dataclass(frozen=True)
class Priced:
    """A completion with what it cost."""

    result: CompletionResult
    cost_usd: float | None
    latency_ms: float


class LLMService:
    """Completions through provider plugins, priced and recorded."""

    def __init__(self, database: Database, plugins: PluginHost, prices: PriceTable) -> None:
        self.database = database
        self.plugins = plugins
        self.prices = prices
        self.records = BatchInsert(database, LLM_CALL)

    def resolve(self, choice: LLMChoice) -> Any:
        """The provider capability of ``choice``.

        Raises:
            InputInvalid: It is not an LLM provider.
            PluginNotFound, UnknownCapability: It is not installed.
        """
        handle = self.plugins.resolve(choice.provider)
        if handle.kind is not CapabilityKind.LLM_PROVIDER:
            raise InputInvalid(
                f"{choice.provider} is a {handle.kind.value}, not an LLM provider; name one such as "
                "'llm-openai-compatible/openai' in config.llm.provider",
                details={"provider": choice.provider},
            )
        return handle

    async def complete(
        self,
        request: CompletionRequest,
        choice: LLMChoice,
        *,
        secrets: dict[str, str],
        scope: CallScope,
        context: Context,
    ) -> Priced:
        """Ask the provider, record the call (also when it fails) and return the answer with its cost.

        ``context`` carries the timeout and the event sink (streamed tokens reach it).
        """
        handle = self.resolve(choice)
        request = request.model_copy(update={"model": request.model or choice.model})
        started = time.perf_counter()
        provider_context = self.plugins.context(
            timeout=context.time_remaining(),
            secrets=secrets,
            execution_id=scope.execution_id,
            node_id=scope.node_id,
            events=context.emit,
        )
        try:
            output = await handle.call(
                "complete", choice.config, request.model_dump(mode="json", exclude_none=True), provider_context
            )
        except SynthralError as exc:
            latency = (time.perf_counter() - started) * 1000
            await self._record(scope, choice, request.model, None, latency, error=exc, request=request)
            raise
        latency = (time.perf_counter() - started) * 1000
        result = CompletionResult.model_validate(output)
        cost = self.prices.cost(result.model or request.model, result.usage.input_tokens, result.usage.output_tokens)
        if cost is None:
            cost = self.prices.cost(request.model, result.usage.input_tokens, result.usage.output_tokens)
        await self._record(scope, choice, result.model or request.model, result, latency, cost=cost, request=request)
        return Priced(result, cost, latency)

    async def record_replayed(self, scope: CallScope, choice: LLMChoice, result: CompletionResult) -> None:
        """Record a call answered from an earlier attempt's record (no cost: nothing was spent again)."""
        await self._record(scope, choice, result.model, result, 0.0, status="replayed")

    async def _record(
        self,
        scope: CallScope,
        choice: LLMChoice,
        model: str,
        result: CompletionResult | None,
        latency_ms: float,
        *,
        error: SynthralError | None = None,
        cost: float | None = None,
        status: str | None = None,
        request: CompletionRequest | None = None,
    ) -> None:
        row = {
            "workspace_id": scope.workspace_id,
            "execution_id": scope.execution_id,
            "node_id": scope.node_id,
            "agent_task_id": scope.agent_task_id,
            "conversation_id": scope.conversation_id,
            "provider": choice.provider,
            "model": model,
            "tokens_input": result.usage.input_tokens if result else 0,
            "tokens_output": result.usage.output_tokens if result else 0,
            "usd_cost": cost,
            "latency_ms": latency_ms,
            "attempts": result.attempts if result else 1,
            "status": status or ("error" if error else "ok"),
            "error_type": error.error_type if error else None,
            "created_at": utcnow(),
        }
        self.records.add(row)
        observe.llm_call(row, request=request, response=result)
        if result is not None and status != "replayed":
            observe.llm_usage(model, result.usage.input_tokens, result.usage.output_tokens, cost)
