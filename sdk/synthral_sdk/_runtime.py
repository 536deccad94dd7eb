"""Code runtimes and secret stores."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Mapping
from typing import ClassVar, Generic

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk._capability import Capability, CapabilityKind, Operation
from synthral_sdk._typevars import ConfigT
from synthral_sdk.context import Context
from synthral_sdk.types import BlobRef

__all__ = [
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


class CodeRequest(BaseModel):
    """Code to run in a sandbox."""

    model_config = ConfigDict(extra="forbid")

    language: str = Field(description="'python', 'javascript'... as the runtime supports.")
    code: str
    inputs: dict[str, JsonValue] = Field(default_factory=dict, description="Made available to the code.")
    files: list[BlobRef] = Field(default_factory=list, description="Files placed in the sandbox.")
    timeout_s: float = Field(default=30.0, gt=0, le=3600)
    memory_mb: int = Field(default=256, ge=16, le=65536)


class CodeResult(BaseModel):
    """What the code did."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    result: JsonValue = Field(default=None, description="The value the code returned, if the runtime supports it.")
    files: list[BlobRef] = Field(default_factory=list, description="Files the code produced.")


class CodeRuntime(Capability, Generic[ConfigT]):
    """A sandbox that runs user code. Implement :meth:`execute`."""

    kind: ClassVar[CapabilityKind] = CapabilityKind.CODE_RUNTIME

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
