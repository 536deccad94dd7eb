"""Nodes (workflow steps) and triggers."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Mapping
from typing import ClassVar, Generic

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk._capability import Capability, CapabilityKind, Handles, Operation
from synthral_sdk._typevars import ConfigT, InputT, OutputT
from synthral_sdk.context import Context

__all__ = ["Node", "PollRequest", "PollResult", "Trigger", "TriggerEvent"]


class Node(Capability, Generic[InputT, OutputT, ConfigT]):
    """A workflow step: takes inputs and a config, returns outputs.

    Declare the models as generic arguments and implement :meth:`run`::

        class Greet(Node[GreetIn, GreetOut]):
            name = "greet"

            def run(self, inputs: GreetIn, config: NoConfig, context: Context) -> GreetOut:
                return GreetOut(text=f"hello {inputs.who}")

    ``run`` may be ``async def``; a plain ``def`` runs in a worker thread.
    """

    kind: ClassVar[CapabilityKind] = CapabilityKind.NODE
    category: ClassVar[str] = "Nodes"
    model_params: ClassVar[tuple[str, ...]] = ("input_model", "output_model", "config_model")
    input_model: ClassVar[type[BaseModel]]
    output_model: ClassVar[type[BaseModel]]

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {"run": Operation("run", "run", cls.input_model, cls.output_model, "Run the node.")}

    @abc.abstractmethod
    def run(self, inputs: InputT, config: ConfigT, context: Context) -> OutputT | Awaitable[OutputT]:
        """Do the node's work.

        Args:
            inputs: The validated inputs.
            config: The validated config.
            context: The call's context: secrets, blobs, idempotency key, log.

        Returns:
            The outputs, an instance of the declared output model.

        Raises:
            RetryableError: A transient failure the engine should retry.
            NonRetryableError: A failure no retry can fix.
        """


class PollRequest(BaseModel):
    """Input of :meth:`Trigger.poll`."""

    model_config = ConfigDict(extra="forbid")

    state: dict[str, JsonValue] | None = Field(
        default=None, description="The state the previous poll returned; None on the first poll."
    )


class PollResult(BaseModel):
    """Output of :meth:`Trigger.poll`."""

    events: list[dict[str, JsonValue]] = Field(
        default_factory=list, description="New events, oldest first; each starts one execution."
    )
    state: dict[str, JsonValue] | None = Field(
        default=None, description="Cursor to hand to the next poll (a timestamp, an id, an ETag)."
    )


class TriggerEvent(BaseModel):
    """An event a trigger reports: it becomes the input of the run it starts.

    Any fields may be set. ``id`` (the source's id for the event) is how the host tells a new
    event from one reported again; without it the event's content is its identity.

    .. versionadded:: 1.9
    """

    model_config = ConfigDict(extra="allow")

    id: str | int | None = Field(default=None, description="The source's id for the event; repeats are ignored.")


class Trigger(Capability, Generic[ConfigT]):
    """A source of events that start workflows, polled on a schedule.

    Implement :meth:`poll`: return the events since ``request.state`` and the new state.
    The host stores the state durably between polls (a workflow's ``poll`` trigger), starts
    one run per new event, and commits the runs with the new state, so a restart neither
    loses nor repeats events. Set ``event_model`` to describe the events (the run's input).
    """

    kind: ClassVar[CapabilityKind] = CapabilityKind.TRIGGER
    category: ClassVar[str] = "Triggers"
    event_model: ClassVar[type[BaseModel]] = TriggerEvent

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {"poll": Operation("poll", "poll", PollRequest, PollResult, "Fetch new events.")}

    @classmethod
    def default_handles(cls) -> Handles:
        """A trigger starts runs: nothing comes in, its events go out."""
        return Handles(inputs=[])

    @classmethod
    def trigger_schema(cls) -> dict[str, JsonValue] | None:
        """The JSON Schema of an event, which is a run's input."""
        return cls.event_model.model_json_schema()

    @abc.abstractmethod
    def poll(self, request: PollRequest, config: ConfigT, context: Context) -> PollResult | Awaitable[PollResult]:
        """Return the events that happened since ``request.state``, and the new state."""
