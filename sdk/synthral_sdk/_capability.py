"""The base every capability kind derives from: the framework's half of the contract.

An author subclasses one kind (``Node``, ``OCREngine``...) and fills in one to three
methods. Everything here is ``@final``: validating config and input, calling the author's
method (sync in a worker thread, async on the loop), checking the output and describing the
capability in the catalog.
"""

from __future__ import annotations

import abc
import asyncio
import contextvars
import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Final, TypeVar, cast, final, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from synthral_sdk.context import Context
from synthral_sdk.errors import (
    ConfigInvalid,
    ConfigurationError,
    InputInvalid,
    OutputInvalid,
    UnknownOperation,
)
from synthral_sdk.types import JSONObject

__all__ = [
    "Capability",
    "CapabilityKind",
    "CapabilitySpec",
    "DynamicOutputs",
    "Handle",
    "Handles",
    "NoConfig",
    "Operation",
    "OperationSpec",
]

NAME_PATTERN: Final = re.compile(r"[a-z][a-z0-9_.-]{0,63}")

ModelT = TypeVar("ModelT", bound=BaseModel)


class CapabilityKind(StrEnum):
    """The kinds of capability a plugin can offer; one hook spec each."""

    NODE = "node"
    TRIGGER = "trigger"
    CONNECTOR = "connector"
    OCR_ENGINE = "ocr_engine"
    EMBEDDER = "embedder"
    VECTOR_STORE = "vector_store"
    CODE_RUNTIME = "code_runtime"
    LLM_PROVIDER = "llm_provider"
    AGENT_FRAMEWORK = "agent_framework"
    SECRET_STORE = "secret_store"  # noqa: S105 -- a kind name, not a password

    @property
    def hook(self) -> str:
        """The hook in :mod:`synthral_sdk.hookspecs` that returns capabilities of this kind.

        By convention ``synthral_<kind>s``: a new kind is this enum member, its base class and
        its hook spec; the host's collectors and proxies follow from the enum.
        """
        return f"synthral_{self.value}s"


class NoConfig(BaseModel):
    """The config of a capability that takes none."""

    model_config = ConfigDict(extra="forbid")


class OperationSpec(BaseModel):
    """One operation in the catalog, with its JSON Schemas."""

    model_config = ConfigDict(populate_by_name=True)

    description: str = ""
    input_schema: dict[str, JsonValue] = Field(alias="inputSchema")
    output_schema: dict[str, JsonValue] = Field(alias="outputSchema")


class Handle(BaseModel):
    """One place edges attach to a node on the canvas: an input or an output.

    .. versionadded:: 1.9
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="What edges name as their handle, e.g. 'main', 'true', 'error'.")
    label: str = Field(default="", description="What the canvas shows next to it; empty: nothing.")


class DynamicOutputs(BaseModel):
    """Outputs read from the node's config: one per entry of a list (a switch's rules).

    The node takes one of them per run and says which in the ``branch`` field of its output.

    .. versionadded:: 1.9
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    from_config: str = Field(alias="fromConfig", description="JSON Pointer to a list in the config, e.g. '/rules'.")
    key: str = Field(description="The field of each entry that names its output, e.g. 'branch'.")
    fallback: str | None = Field(
        default=None, description="The output taken when no entry matches, unless the config names another."
    )
    fallback_from_config: str | None = Field(
        default=None,
        alias="fallbackFromConfig",
        description="JSON Pointer to the config field naming the fallback output (null there: none).",
    )


def _main() -> list[Handle]:
    return [Handle(id="main")]


class Handles(BaseModel):
    """Where a node's edges attach: the validator, the graph compiler and the canvas read this.

    A node with one output (``main``) takes edges without a handle. A node that declares
    other outputs (static or from its config) is a router: its output's ``branch`` field
    names the output taken, and each of its edges names an output. With ``error_output``,
    a failure of the node (after its retries) follows the edges whose handle is ``error``
    instead of failing the run, when there are such edges.

    .. versionadded:: 1.9
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    inputs: list[Handle] = Field(default_factory=_main)
    outputs: list[Handle] = Field(default_factory=_main)
    dynamic_outputs: DynamicOutputs | None = Field(default=None, alias="dynamicOutputs")
    error_output: bool = Field(default=False, alias="errorOutput")

    @property
    def routes(self) -> bool:
        """Whether the node picks among several outputs (its edges must name one)."""
        return self.dynamic_outputs is not None or [h.id for h in self.outputs] != ["main"]

    def output_ids(self, config: Mapping[str, object]) -> set[str]:
        """The outputs a node with ``config`` can take (dynamic ones read from the config)."""
        ids = {handle.id for handle in self.outputs}
        dynamic = self.dynamic_outputs
        if dynamic is None:
            return ids
        entries = _at_pointer(config, dynamic.from_config)
        for entry in entries if isinstance(entries, list) else []:
            name = entry.get(dynamic.key) if isinstance(entry, dict) else None
            if isinstance(name, str):
                ids.add(name)
        fallback: object = dynamic.fallback
        if dynamic.fallback_from_config is not None:
            found = _at_pointer(config, dynamic.fallback_from_config, missing=_MISSING)
            fallback = dynamic.fallback if found is _MISSING else found
        if isinstance(fallback, str):
            ids.add(fallback)
        return ids


_MISSING: Final = object()


def _at_pointer(document: object, pointer: str, *, missing: object = None) -> object:
    """The value at an RFC 6901 JSON Pointer, or ``missing``."""
    current = document
    for raw in pointer.split("/")[1:] if pointer else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return missing
    return current


class CapabilitySpec(BaseModel):
    """A capability's catalog entry, as sent in the ``initialize`` answer.

    .. versionchanged:: 1.9 ``category``, ``icon``, ``handles`` and ``trigger_schema``.
    """

    model_config = ConfigDict(populate_by_name=True)

    name: str
    kind: CapabilityKind
    title: str = ""
    description: str = ""
    category: str = Field(default="", description="The palette group, e.g. 'Network'.")
    icon: str = Field(default="", description="A short icon name ('globe') or a data: URL.")
    config_schema: dict[str, JsonValue] = Field(alias="configSchema")
    operations: dict[str, OperationSpec]
    secrets: list[str] = Field(default_factory=list)
    handles: Handles = Field(default_factory=Handles)
    trigger_schema: dict[str, JsonValue] | None = Field(
        default=None, alias="triggerSchema", description="For triggers: the JSON Schema of the input a run gets."
    )
    extra: dict[str, JsonValue] = Field(default_factory=dict)

    def wire(self) -> JSONObject:
        """The JSON form used on the wire and in the host's catalog cache."""
        return cast(JSONObject, self.model_dump(mode="json", by_alias=True))


@dataclass(frozen=True)
class Operation:
    """How an operation name maps to an author's method and its models."""

    name: str
    method: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    description: str = ""


def _dump_context(request: BaseModel) -> dict[str, str] | None:
    """How the answer to ``request`` is written: packed vectors when the request asked for them."""
    encoding = request.__dict__.get("vector_encoding")  # not getattr: a miss on a model raises, which is slow
    return {"vector_encoding": encoding} if isinstance(encoding, str) else None


def _format_validation(error: ValidationError, what: str) -> tuple[str, JSONObject]:
    problems: list[str] = []
    errors: list[JSONObject] = []
    for item in error.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in item["loc"]) or "(root)"
        problems.append(f"{what} field '{loc}': {item['msg']}")
        errors.append({"loc": [str(part) for part in item["loc"]], "msg": item["msg"], "type": item["type"]})
    return "; ".join(problems), {"errors": cast(Any, errors)}


def validate_model(model: type[ModelT], data: object, error: type[ConfigurationError], what: str, fix: str) -> ModelT:
    """Validate ``data`` into ``model`` or raise ``error`` naming every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, details = _format_validation(exc, what)
        raise error(f"{message}. {fix}", details=details) from None


def _bind_generic_models(cls: type[Capability]) -> None:
    """Set the model class attributes from the generic arguments ``cls`` passes its kind.

    ``class Fetch(Node[FetchIn, FetchOut, FetchConfig])`` sets ``input_model``,
    ``output_model`` and ``config_model``, so an author declares each model once.
    """
    for alias in cls.__dict__.get("__orig_bases__", ()):
        origin = get_origin(alias)
        if not (isinstance(origin, type) and issubclass(origin, Capability)):
            continue
        args = get_args(alias)
        params = origin.model_params
        if len(args) == len(params) and all(isinstance(a, type) and issubclass(a, BaseModel) for a in args):
            for param, model in zip(params, args, strict=True):
                setattr(cls, param, model)


@functools.cache
def _operations_of(cls: type[Capability]) -> Mapping[str, Operation]:
    return cls.operations()


@functools.cache
def _is_coroutine_method(cls: type, name: str) -> bool:
    return inspect.iscoroutinefunction(getattr(cls, name))


async def _run_in_thread(
    method: Callable[[BaseModel, BaseModel, Context], object], arg: BaseModel, cfg: BaseModel, context: Context
) -> object:
    """Run a synchronous author method in the loop's default executor.

    On cancellation the context's cancel flag is raised and the coroutine waits for the
    thread to return, so the caller learns when the work has really stopped.
    """
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, method, arg, cfg, context)
    future = loop.run_in_executor(None, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        context._cancel.set()  # noqa: SLF001 -- the SDK's own context
        while not future.done():
            try:
                await asyncio.wait([future])
            except asyncio.CancelledError:
                continue  # cancelled again while waiting: still wait for the thread to return
        raise


class Capability(abc.ABC):
    """Base of every capability kind. Authors subclass a kind, not this class.

    Class attributes an author sets:
        name: Unique within the plugin; lowercase, digits, ``_ . -``.
        title: A short human name for palettes and menus.
        description: What it does, for the catalog and the docs.
        category: The palette group ("Network", "Documents"); each kind's base class sets one.
        icon: A short icon name ("globe") or a ``data:`` URL.
        secrets: Names of the secrets the capability may be granted per call.
        handles: Where edges attach on the canvas (see :class:`Handles`); the kind's default
            (one input, one output, an error output) when None.

    .. versionchanged:: 1.9 ``category``, ``icon`` and ``handles``.
    """

    kind: ClassVar[CapabilityKind]
    name: ClassVar[str]
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    category: ClassVar[str] = ""
    icon: ClassVar[str] = ""
    secrets: ClassVar[tuple[str, ...]] = ()
    handles: ClassVar[Handles | None] = None
    config_model: ClassVar[type[BaseModel]] = NoConfig

    #: Names of the class attributes a kind's generic parameters fill, in order.
    model_params: ClassVar[tuple[str, ...]] = ("config_model",)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        _bind_generic_models(cls)

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        """The operations of this capability; each kind defines its own."""
        raise NotImplementedError

    def extra(self) -> JSONObject:
        """Kind-specific catalog data (a connector's auth spec, for instance)."""
        return {}

    @classmethod
    def default_handles(cls) -> Handles:
        """The kind's handles: one input, one output, and failures may follow an ``error`` edge."""
        return Handles(error_output=True)

    @classmethod
    def trigger_schema(cls) -> dict[str, JsonValue] | None:
        """For triggers, the JSON Schema of a run's input; None for other kinds."""
        return None

    @final
    def spec(self) -> CapabilitySpec:
        """Describe this capability for the catalog, with JSON Schemas (built once per instance)."""
        cached = self.__dict__.get("_spec")
        if cached is None:
            cached = self.__dict__["_spec"] = self._build_spec()
        return cast(CapabilitySpec, cached)

    def _build_spec(self) -> CapabilitySpec:
        name = getattr(type(self), "name", None)
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise ConfigurationError(
                f"capability class {type(self).__qualname__} has name {name!r}; set the class "
                "attribute 'name' to lowercase letters, digits, '_', '.' or '-', starting with a letter"
            )
        return CapabilitySpec(
            name=name,
            kind=self.kind,
            title=self.title or name,
            description=self.description or inspect.cleandoc(type(self).__dict__.get("__doc__") or ""),
            category=self.category,
            icon=self.icon,
            handles=self.handles if self.handles is not None else self.default_handles(),
            trigger_schema=self.trigger_schema(),
            config_schema=self.config_model.model_json_schema(),
            operations={
                op.name: OperationSpec(
                    description=op.description,
                    input_schema=op.input_model.model_json_schema(),
                    output_schema=op.output_model.model_json_schema(mode="serialization"),
                )
                for op in self.operations().values()
            },
            secrets=list(self.secrets),
            extra=self.extra(),
        )

    @final
    async def call(self, operation: str, config: object, payload: object, context: Context) -> JSONObject:
        """Run ``operation`` with raw JSON ``config`` and ``payload``; return JSON output.

        This is the one entry point the runner (and the host, for in-process capabilities)
        uses. Synchronous author methods run in the event loop's default executor.

        Raises:
            UnknownOperation: ``operation`` is not one of :meth:`operations`.
            ConfigInvalid: ``config`` fails the config model.
            InputInvalid: ``payload`` fails the operation's input model.
            OutputInvalid: The author's method returned something its output model rejects.
        """
        ops = _operations_of(type(self))
        op = ops.get(operation)
        if op is None:
            raise UnknownOperation(
                f"capability '{self.name}' has no operation '{operation}'; it has: {', '.join(sorted(ops))}",
                details={"capability": self.name, "operation": operation, "known": [*sorted(ops)]},
            )
        cfg = validate_model(self.config_model, config, ConfigInvalid, "config", f"Fix the config of '{self.name}'.")
        arg = validate_model(
            op.input_model, payload, InputInvalid, "input", f"Fix the input of '{self.name}.{op.name}'."
        )
        method = cast(Callable[[BaseModel, BaseModel, Context], object], getattr(self, op.method))
        context.loop = asyncio.get_running_loop()
        if _is_coroutine_method(type(self), op.method):
            result = await cast(Awaitable[object], method(arg, cfg, context))
        else:
            result = await _run_in_thread(method, arg, cfg, context)
        if not isinstance(result, op.output_model):
            try:
                result = op.output_model.model_validate(result)
            except ValidationError as exc:
                message, details = _format_validation(exc, "output")
                raise OutputInvalid(
                    f"'{self.name}.{op.name}' returned invalid output: {message}. "
                    "This is a bug in the plugin; its author must return the declared model",
                    details=details,
                ) from None
        return cast(JSONObject, result.model_dump(mode="json", by_alias=True, context=_dump_context(arg)))
