"""Code runtimes and secret stores."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Mapping
from typing import ClassVar, Generic, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk._capability import Capability, CapabilityKind, Operation
from synthral_sdk._typevars import ConfigT
from synthral_sdk.context import Context
from synthral_sdk.types import BlobRef

__all__ = [
    "CodeError",
    "CodeRequest",
    "CodeResult",
    "CodeRuntime",
    "SecretDelete",
    "SecretDeleted",
    "SecretGet",
    "SecretPut",
    "SecretStore",
    "SecretValue",
    "SecretWritten",
]


LimitName = Literal["timeout", "cpu", "memory", "output", "processes"]
"""Which limit stopped a run: the wall clock, CPU time, memory, output size or the process count."""


class CodeRequest(BaseModel):
    """Code to run in a sandbox, with its inputs and limits.

    Python code reads ``inputs`` and assigns its answer to ``result``; JavaScript code is
    the body of an async function that receives ``inputs`` and returns its answer. The
    answer must be JSON.
    """

    model_config = ConfigDict(extra="forbid")

    language: str = Field(description="'python', 'javascript'... as the runtime supports.")
    code: str = Field(max_length=1_000_000)
    inputs: dict[str, JsonValue] = Field(default_factory=dict, description="Made available to the code.")
    files: list[BlobRef] = Field(
        default_factory=list, description="Files placed in the run's scratch directory, under their names."
    )
    timeout_s: float = Field(default=30.0, gt=0, le=3600, description="Wall-clock limit of the whole run.")
    memory_mb: int = Field(default=256, ge=16, le=65536, description="Memory the code may use.")
    cpu_s: float | None = Field(
        default=None, gt=0, le=3600, description="CPU seconds the code may use; the wall-clock limit when null."
    )
    output_bytes: int = Field(
        default=1_048_576, ge=1024, le=64 * 1_048_576, description="Bytes of stdout, and of stderr, kept; more stops."
    )
    max_processes: int = Field(default=16, ge=1, le=1024, description="Processes and threads the code may start.")
    network: list[str] = Field(
        default_factory=list,
        description="Hosts the code may reach ('api.example.com', 'api.example.com:8443', '*.example.com'); "
        "none when empty. Runtimes without network refuse a non-empty list.",
    )
    packages: list[str] = Field(
        default_factory=list,
        description="Pure-Python packages (requirement specifiers, e.g. 'humanize==4.9.0') made importable, read-only.",
    )

    @property
    def cpu_limit(self) -> float:
        """The CPU seconds the run may use."""
        return self.cpu_s if self.cpu_s is not None else self.timeout_s


class CodeError(BaseModel):
    """An exception the user's code raised (or a syntax error in it)."""

    type: str = Field(description="The exception's class name, e.g. 'ZeroDivisionError'.")
    message: str
    traceback: str = Field(default="", description="The traceback, with only the user's own frames.")
    line: int | None = Field(default=None, description="The line of the user's code where it was raised.")


class CodeResult(BaseModel):
    """What the code did."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    result: JsonValue = Field(default=None, description="The value the code returned, if the runtime supports it.")
    files: list[BlobRef] = Field(default_factory=list, description="Files the code produced.")
    error: CodeError | None = Field(default=None, description="The exception the code raised, if any.")
    limit: LimitName | None = Field(default=None, description="The limit that stopped the run, if one did.")
    duration_ms: float = Field(default=0.0, description="Wall-clock time from start to result.")
    cpu_s: float = Field(default=0.0, description="CPU seconds the run used (as far as the runtime can measure).")
    stdout_truncated: bool = False
    stderr_truncated: bool = False

    @property
    def ok(self) -> bool:
        """Whether the code ran to its end without an error or a limit."""
        return self.exit_code == 0 and self.error is None and self.limit is None


class CodeRuntime(Capability, Generic[ConfigT]):
    """A sandbox that runs user code. Implement :meth:`execute`."""

    kind: ClassVar[CapabilityKind] = CapabilityKind.CODE_RUNTIME
    category: ClassVar[str] = "Code"

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {"execute": Operation("execute", "execute", CodeRequest, CodeResult, "Run code in the sandbox.")}

    @abc.abstractmethod
    def execute(self, request: CodeRequest, config: ConfigT, context: Context) -> CodeResult | Awaitable[CodeResult]:
        """Run the code with its inputs and files inside the sandbox, within its limits."""


class SecretGet(BaseModel):
    """Read one secret."""

    model_config = ConfigDict(extra="forbid")

    name: str
    scope: str = Field(default="default", description="A workspace or environment.")


class SecretValue(BaseModel):
    """A secret's value; ``value`` is None when it does not exist."""

    name: str
    value: str | None
    version: str | None = None


class SecretPut(BaseModel):
    """Write one secret."""

    model_config = ConfigDict(extra="forbid")

    name: str
    value: str
    scope: str = "default"


class SecretWritten(BaseModel):
    """A written secret's new version."""

    name: str
    version: str | None = None


class SecretDelete(BaseModel):
    """Delete one secret."""

    model_config = ConfigDict(extra="forbid")

    name: str
    scope: str = "default"


class SecretDeleted(BaseModel):
    """Whether the secret existed."""

    name: str
    existed: bool


class SecretStore(Capability, Generic[ConfigT]):
    """Where credentials live. Implement :meth:`get_secret`, :meth:`put_secret`, :meth:`delete_secret`."""

    kind: ClassVar[CapabilityKind] = CapabilityKind.SECRET_STORE
    category: ClassVar[str] = "Secrets"

    @classmethod
    def operations(cls) -> Mapping[str, Operation]:
        return {
            "get_secret": Operation("get_secret", "get_secret", SecretGet, SecretValue, "Read a secret."),
            "put_secret": Operation("put_secret", "put_secret", SecretPut, SecretWritten, "Write a secret."),
            "delete_secret": Operation(
                "delete_secret", "delete_secret", SecretDelete, SecretDeleted, "Delete a secret."
            ),
        }

    @abc.abstractmethod
    def get_secret(self, request: SecretGet, config: ConfigT, context: Context) -> SecretValue | Awaitable[SecretValue]:
        """Return the secret's current value, or ``value=None`` if it does not exist."""

    @abc.abstractmethod
    def put_secret(
        self, request: SecretPut, config: ConfigT, context: Context
    ) -> SecretWritten | Awaitable[SecretWritten]:
        """Create or replace the secret."""

    @abc.abstractmethod
    def delete_secret(
        self, request: SecretDelete, config: ConfigT, context: Context
    ) -> SecretDeleted | Awaitable[SecretDeleted]:
        """Delete the secret if it exists."""
