"""The stored form of a workflow: nodes, edges, triggers and settings.

JSON is the stored form; the CLI also reads YAML (docs/workflow-format.md). These models
check the shape only; :mod:`synthral.engine.validate` checks meaning (node types exist,
configs match their schemas, edges connect, every node is reachable, loops can end).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

__all__ = [
    "CORE_PLUGIN",
    "ENGINE_PLUGIN",
    "ERROR_OUTPUT",
    "MAIN_OUTPUT",
    "CatchUp",
    "CronTrigger",
    "Edge",
    "ManualTrigger",
    "Node",
    "PollTrigger",
    "Position",
    "RetryPolicy",
    "SignalTrigger",
    "Trigger",
    "WebhookTrigger",
    "Workflow",
    "WorkflowSettings",
]

NODE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
NODE_TYPE = re.compile(r"[a-z][a-z0-9_-]{0,62}/[a-z][a-z0-9_.-]{0,63}")

CORE_PLUGIN = "core"
"""The plugin name of the logic nodes built into the host."""
ENGINE_PLUGIN = "engine"
"""The plugin name of the node types the engine implements itself (see synthral.engine.registry)."""
MAIN_OUTPUT = "main"
"""The output of a node that has one; edges from it may leave the handle out."""
ERROR_OUTPUT = "error"
"""The output a node's failure follows, when the node has an error output and such an edge exists."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetryPolicy(_Strict):
    """How a failing step is retried. Unset fields take the workflow's, then the host's defaults."""

    max_attempts: int | None = Field(default=None, ge=1, le=1000, description="Attempts in all, the first included.")
    initial_interval: float | None = Field(default=None, ge=0, description="Seconds before the first retry.")
    backoff_coefficient: float | None = Field(
        default=None, ge=1, le=100, description="Each wait is this many times the last."
    )
    max_interval: float | None = Field(default=None, ge=0, description="Longest wait between attempts, in seconds.")
    non_retryable_errors: list[str] = Field(
        default_factory=list,
        description="Error types ('ValueError', 'NonRetryableError', 'InputInvalid') that fail the step at once.",
    )


class Position(_Strict):
    """Where the node sits on the editor's canvas."""

    x: float = 0
    y: float = 0


class Node(_Strict):
    """One step of a workflow.

    ``config`` is static and checked against the capability's config schema when the workflow
    is saved. ``input`` is rendered for every run from the templates it holds
    (``"{{ nodes.fetch.output.json.title }}"``) and checked by the capability when it runs.
    """

    id: str = Field(description="Unique in the workflow; letters, digits and '_'. Templates refer to it.")
    type: str = Field(description="'plugin/capability' (e.g. 'http/request'), or an engine type such as 'engine/map'.")
    name: str = Field(default="", description="A label for people.")
    config: dict[str, JsonValue] = Field(default_factory=dict)
    input: dict[str, JsonValue] = Field(default_factory=dict, description="Templated input.")
    operation: str | None = Field(default=None, description="For capabilities with several operations.")
    version: str | None = Field(default=None, description="Pin a plugin version; else the one pinned at save time.")
    secrets: list[str] = Field(default_factory=list, description="Credentials granted to this step, by name.")
    retry: RetryPolicy | None = None
    timeout: float | None = Field(default=None, gt=0, description="Seconds for one attempt.")
    position: Position | None = None

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not NODE_ID.fullmatch(value):
            raise ValueError(
                f"node id {value!r} must start with a letter or '_' and hold only letters, digits and '_' "
                "(templates refer to it as nodes.<id>)"
            )
        return value

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        if not NODE_TYPE.fullmatch(value):
            raise ValueError(f"node type {value!r} must look like 'plugin/capability', e.g. 'http/request'")
        return value


class Edge(_Strict):
    """A connection: ``target`` runs after ``source``; ``handle`` names the source's output it leaves from."""

    source: str
    target: str
    handle: str | None = Field(
        default=None,
        description="The source's output: none or 'main' for a node's only output, a branch of an if/switch "
        "('true', a switch rule), or 'error' for the node's failures.",
    )


class ManualTrigger(_Strict):
    """Started by a person or an API call."""

    type: Literal["manual"] = "manual"
    input_schema: dict[str, JsonValue] | None = Field(
        default=None,
        description="JSON Schema of a run's input: agents and MCP clients calling the workflow as a tool see it.",
    )


class CatchUp(StrEnum):
    """What a schedule does about slots missed while no scheduler ran."""

    SKIP = "skip"
    ONCE = "once"
    ALL = "all"


class CronTrigger(_Strict):
    """Started on a schedule (APScheduler 3 cron syntax)."""

    type: Literal["cron"] = "cron"
    cron: str = Field(description="Five fields, 'minute hour day month day_of_week', e.g. '0 9 * * mon-fri'.")
    timezone: str = Field(default="UTC", description="An IANA time zone, e.g. 'Europe/Paris'.")
    catch_up: CatchUp = CatchUp.ONCE
    input: dict[str, JsonValue] = Field(default_factory=dict, description="The input each scheduled run gets.")


class WebhookTrigger(_Strict):
    """Started by an HTTP delivery (the server's webhook route)."""

    type: Literal["webhook"] = "webhook"
    connector: str | None = Field(default=None, description="The connector whose signature scheme to verify.")


class SignalTrigger(_Strict):
    """Started by a signal sent to the workflow."""

    type: Literal["signal"] = "signal"
    signal: str = Field(description="The signal name that starts a run.")


class PollTrigger(_Strict):
    """Started by each new event a plugin's trigger finds when the host polls it."""

    type: Literal["poll"] = "poll"
    trigger: str = Field(description="The trigger capability, 'plugin/capability', e.g. 'rss/feed'.")
    config: dict[str, JsonValue] = Field(default_factory=dict, description="That trigger's config.")
    interval: float = Field(default=300.0, ge=1, le=7 * 24 * 3600, description="Seconds between polls.")
    secrets: list[str] = Field(default_factory=list, description="Credentials granted to each poll, by name.")

    @field_validator("trigger")
    @classmethod
    def _check_trigger(cls, value: str) -> str:
        if not NODE_TYPE.fullmatch(value):
            raise ValueError(f"trigger {value!r} must look like 'plugin/capability', e.g. 'rss/feed'")
        return value


Trigger = Annotated[
    ManualTrigger | CronTrigger | WebhookTrigger | SignalTrigger | PollTrigger, Field(discriminator="type")
]


class WorkflowSettings(_Strict):
    """Workflow-wide behaviour."""

    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    error_workflow: str | None = Field(default=None, description="A workflow started when a run of this one fails.")
    timeout: float | None = Field(default=None, gt=0, description="Seconds a run may take in all.")
    max_steps: int = Field(default=10_000, ge=1, description="Steps a run may take (loops included) before it fails.")


class Workflow(_Strict):
    """A workflow: what is stored, versioned and run."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    nodes: list[Node] = Field(min_length=1)
    edges: list[Edge] = Field(default_factory=list)
    triggers: list[Trigger] = Field(default_factory=lambda: list[Trigger]([ManualTrigger()]))
    settings: WorkflowSettings = Field(default_factory=WorkflowSettings)

    @model_validator(mode="after")
    def _unique_ids(self) -> Workflow:
        seen: set[str] = set()
        for node in self.nodes:
            if node.id in seen:
                raise ValueError(f"two nodes have the id {node.id!r}; node ids must be unique")
            seen.add(node.id)
        return self

    def node(self, node_id: str) -> Node:
        """The node with ``node_id``."""
        return next(node for node in self.nodes if node.id == node_id)
