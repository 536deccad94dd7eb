"""Which LLM the copilot talks to, with which credentials, and where code mode runs its code.

A workspace's owner sets them (``PUT /api/v1/chat/settings``); until then the server's
defaults apply, read once with the other settings (``settings.copilot``):

- ``SYNTHRAL_COPILOT_LLM``: the LLM as JSON, ``{"provider": "llm-openai-compatible/openai",
  "model": "gpt-4o-mini", "config": {"base_url": "https://api.openai.com/v1", "api_key_secret": "openai"}}``;
- ``SYNTHRAL_COPILOT_SECRETS``: credentials its calls are granted, comma-separated (``openai``);
- ``SYNTHRAL_COPILOT_CODE_RUNTIME``: the code runtime of code mode (default ``code-wasi/wasi``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from synthral.config import CopilotServerSettings
from synthral.errors import ConfigurationError
from synthral.services.agent_models import LLMChoice, RoutingHints
from synthral.store.copilot_tables import COPILOT_SETTINGS
from synthral.store.db import Database
from synthral.store.tables import utcnow
from synthral_sdk import AgentBudget

__all__ = ["AgentDefaults", "CopilotSettings", "SettingsStore", "server_default"]


class AgentDefaults(BaseModel):
    """How the agent modes run their agent: routing hints, an explicit framework, a budget."""

    model_config = ConfigDict(extra="forbid")

    routing: RoutingHints = Field(default_factory=lambda: RoutingHints(user_prefers_copilot_ui=True))
    framework: str | None = Field(default=None, description="An installed agent framework, 'plugin/capability'.")
    budget: AgentBudget = Field(default_factory=lambda: AgentBudget(max_steps=30, max_seconds=300))
    instructions: str = Field(default="", max_length=20_000, description="Added to the agent's system prompt.")


class CopilotSettings(BaseModel):
    """The copilot of one workspace."""

    model_config = ConfigDict(extra="forbid")

    llm: LLMChoice
    secrets: list[str] = Field(default_factory=list, description="Credentials its LLM calls are granted, by name.")
    code_runtime: str | None = Field(default=None, description="The code runtime of code mode; the default when unset.")
    agent: AgentDefaults = Field(default_factory=AgentDefaults)
    source: str = Field(default="workspace", description="'workspace' (set by an owner) or 'server' (environment).")


def server_default(settings: CopilotServerSettings) -> CopilotSettings | None:
    """The server's default from ``SYNTHRAL_COPILOT_*`` (``settings.copilot``), or None when no LLM is set.

    Raises:
        ConfigurationError: ``SYNTHRAL_COPILOT_LLM`` is not a valid LLM choice.
    """
    if settings.llm is None:
        return None
    try:
        llm = LLMChoice.model_validate(settings.llm)
    except ValidationError as exc:
        raise ConfigurationError(
            f"SYNTHRAL_COPILOT_LLM is not a valid LLM choice ({exc.errors(include_url=False)[0]['msg']}); set it "
            'to JSON such as {"provider": "llm-openai-compatible/openai", "model": "gpt-4o-mini", '
            '"config": {"base_url": "..."}} (docs/copilot.md)',
            details={"variables": ["SYNTHRAL_COPILOT_LLM"]},
        ) from None
    return CopilotSettings(llm=llm, secrets=list(settings.secrets), code_runtime=settings.code_runtime, source="server")


class SettingsStore:
    """The copilot settings of each workspace, falling back to the server's.

    Args:
        database: Where workspaces' settings are kept.
        default: The server's default (:func:`server_default`); None when it sets no LLM.
    """

    def __init__(self, database: Database, default: CopilotSettings | None = None) -> None:
        self.database = database
        self.default = default

    async def get(self, workspace_id: str) -> CopilotSettings:
        """The workspace's settings, else the server's.

        Raises:
            ConfigurationError: Neither names an LLM.
        """
        found = await self.find(workspace_id)
        if found is not None:
            return found
        default = self.default
        if default is None:
            raise ConfigurationError(
                "the copilot has no LLM in this workspace; an owner sets one with PUT /api/v1/chat/settings "
                '{"llm": {"provider": "llm-openai-compatible/openai", "model": "gpt-4o-mini", '
                '"config": {"base_url": "https://api.openai.com/v1", "api_key_secret": "openai"}}, '
                '"secrets": ["openai"]}',
                details={"setting": "llm"},
            )
        return default

    async def find(self, workspace_id: str) -> CopilotSettings | None:
        """The workspace's own settings, or None."""
        async with self.database.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(COPILOT_SETTINGS).where(COPILOT_SETTINGS.c.workspace_id == workspace_id)
                )
            ).first()
        if row is None:
            return None
        return CopilotSettings(
            llm=LLMChoice.model_validate(row.llm),
            secrets=list(row.secrets or []),
            code_runtime=row.code_runtime,
            agent=AgentDefaults.model_validate(row.agent or {}),
            source="workspace",
        )

    async def put(self, workspace_id: str, settings: CopilotSettings, *, user_id: str | None) -> None:
        """Store the workspace's settings (replacing earlier ones)."""
        values: dict[str, Any] = {
            "workspace_id": workspace_id,
            "llm": settings.llm.model_dump(mode="json"),
            "secrets": list(settings.secrets),
            "code_runtime": settings.code_runtime,
            "agent": settings.agent.model_dump(mode="json"),
            "updated_at": utcnow(),
            "updated_by": user_id,
        }
        statement = self.database.merge(COPILOT_SETTINGS, ("workspace_id",))
        async with self.database.transaction() as connection:
            await connection.execute(statement, [values])
