"""What a plugin may do: the permissions it declares and the grant the host enforces.

A plugin declares what it needs in a TOML file shipped inside its top-level package,
``<package>/synthral-plugin.toml``, beside the module its entry point names::

    [permissions]
    network = ["api.example.com", "*.example.net:8443"]  # "none" (default), "any", or hosts
    files = "data"                                     # "none" (default), "data", "paths"
    secrets = ["api_key"]                              # credential kinds, or "any"; default none
    subprocesses = ["tesseract"]                       # programs it runs, or "any"; default none
    nested_sandbox = false                             # it makes sandboxes of its own
    memory_mb = 512                                    # at most this much memory
    cpu = 1.0                                          # at most this many cores

The host reads the file from the wheel and from the plugin's venv without importing the
plugin, shows it when the plugin is installed, and starts every plugin process in an OS
sandbox that allows what was granted and nothing else (docs/plugin-security.md). A plugin
without the file declares nothing: no network, no files, no secrets, no subprocesses.

A :class:`Permissions` object serves both as a declaration and as a grant: the grant of an
installed version is what an operator approved, which must cover what it declares
(:meth:`Permissions.not_covered_by`). This module imports nothing beyond the standard
library and pydantic.

.. versionadded:: 1.9
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from synthral_sdk.network import NetworkPolicy, host_matches, parse_host

__all__ = [
    "CREDENTIAL_KINDS",
    "DEFAULT_CPU",
    "DEFAULT_MEMORY_MB",
    "PERMISSIONS_FILE",
    "FileGrant",
    "HostPattern",
    "Permissions",
    "PermissionsInvalid",
    "package_of",
    "parse_permissions",
    "read_permissions",
]

PERMISSIONS_FILE: Final = "synthral-plugin.toml"
"""The file, inside the plugin's top-level package, that declares its permissions."""

CREDENTIAL_KINDS: Final = ("secret", "api_key", "basic", "oauth2")
"""The kinds of workspace credential a plugin may be granted (the credential's ``kind``)."""

DEFAULT_MEMORY_MB: Final = 1024
"""Memory a plugin process may use when it declares no limit (hosts may set another default)."""

DEFAULT_CPU: Final = 1.0
"""Cores a plugin process may use when it declares no limit (hosts may set another default)."""

FilesLevel = Literal["none", "data", "paths"]
_FILES_ORDER: Final = {"none": 0, "data": 1, "paths": 2}
_PROGRAM: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")


class PermissionsInvalid(ValueError):
    """A permissions declaration or grant is malformed; the message names the field and the fix."""


class HostPattern(BaseModel):
    """One host a plugin may connect to: a name, ``*.domain`` or an address, and a port.

    Without a port, the web's two (80 and 443) are allowed.
    """

    model_config = ConfigDict(frozen=True)

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        """Parse ``host``, ``host:port``, ``*.domain``, ``1.2.3.4:8080`` or ``[::1]:8080``.

        Raises:
            PermissionsInvalid: It is none of these.
        """
        try:
            host, port = parse_host(text)
        except ValueError as exc:
            raise PermissionsInvalid(str(exc)) from None
        return cls(host=host, port=port)

    def matches(self, host: str, port: int) -> bool:
        """Whether a connection to ``host:port`` is allowed by this pattern."""
        return host_matches((self.host, self.port), host, port)

    @property
    def is_address(self) -> bool:
        """Whether it names an address rather than a host name."""
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True

    def covers(self, other: HostPattern) -> bool:
        """Whether every connection ``other`` allows is allowed by this pattern too."""
        if self.port is not None and other.port != self.port:
            return False
        if self.host.startswith("*."):
            return other.host.endswith(self.host[1:]) and other.host != self.host[2:]
        return other.host == self.host

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


class FileGrant(BaseModel):
    """A folder an operator chose to share with a plugin whose ``files`` is ``"paths"``."""

    model_config = ConfigDict(frozen=True)

    path: str = Field(description="An absolute path on the host; the plugin sees it at the same path.")
    writable: bool = Field(default=False, description="Whether the plugin may change what is in it.")

    @classmethod
    def parse(cls, text: str) -> FileGrant:
        """Parse ``/srv/docs``, ``/srv/docs:ro`` or ``/srv/out:rw``.

        Raises:
            PermissionsInvalid: The path is not absolute or the mode is neither ro nor rw.
        """
        path, sep, mode = text.rpartition(":")
        if not sep or mode not in {"ro", "rw"}:
            path, mode = text, "ro"
        if not path.startswith("/") or "\0" in path or "/../" in f"{path}/":
            raise PermissionsInvalid(
                f"file grant {text[:200]!r} must be an absolute path without '..', optionally followed by ':ro' "
                "(the default) or ':rw', e.g. '/srv/documents:ro'"
            )
        return cls(path=path.rstrip("/") or "/", writable=mode == "rw")

    def __str__(self) -> str:
        return f"{self.path}:{'rw' if self.writable else 'ro'}"


class Permissions(BaseModel):
    """What a plugin declares it needs, or what an operator granted it.

    Attributes:
        network: ``"none"``, ``"any"`` (any public host, through the host's egress proxy and
            its SSRF policy) or the hosts it may reach.
        files: ``"none"``; ``"data"``, its own data folder (kept across versions); or
            ``"paths"``, folders the operator chooses when installing it (``paths``), as well as
            its data folder.
        paths: In a grant: the folders chosen for ``files = "paths"``.
        secrets: The kinds of workspace credential (:data:`CREDENTIAL_KINDS`) it may be handed,
            or ``"any"``.
        subprocesses: Programs it may run (looked up on the system's ``PATH``), or ``"any"``.
            Without any, the plugin process can neither start programs nor fork.
        nested_sandbox: It creates namespaces of its own (code runtimes that sandbox user code).
        unsandboxed: It cannot run inside the sandbox at all and asks to run with the host's
            full rights (for example to start gVisor, which needs root). Shown as a warning.
        memory_mb: The memory its process may use; ``None`` means the host's default.
        cpu: The cores its process may use; ``None`` means the host's default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: Literal["none", "any"] | tuple[HostPattern, ...] = "none"
    files: FilesLevel = "none"
    paths: tuple[FileGrant, ...] = ()
    secrets: Literal["any"] | tuple[str, ...] = ()
    subprocesses: Literal["any"] | tuple[str, ...] = ()
    nested_sandbox: bool = False
    unsandboxed: bool = False
    memory_mb: int | None = Field(default=None, ge=64, le=1_048_576)
    cpu: float | None = Field(default=None, gt=0, le=1024)

    @field_validator("network", mode="before")
    @classmethod
    def _network(cls, value: object) -> object:
        if isinstance(value, str) and value not in {"none", "any"}:
            value = [value]
        if isinstance(value, list | tuple):
            if not value:
                return "none"
            return tuple(_host_pattern(item) for item in value)
        return value

    @field_validator("paths", mode="before")
    @classmethod
    def _paths(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(
                FileGrant.parse(item) if isinstance(item, str) else FileGrant.model_validate(item) for item in value
            )
        return value

    @field_validator("secrets", mode="before")
    @classmethod
    def _secrets(cls, value: object) -> object:
        if value in ("none", None):
            return ()
        if isinstance(value, str) and value != "any":
            value = [value]
        if isinstance(value, list | tuple):
            unknown = [item for item in value if item not in CREDENTIAL_KINDS]
            if unknown:
                raise PermissionsInvalid(
                    f"secrets lists {unknown[0]!r}, which is not a kind of credential; use "
                    f"{', '.join(CREDENTIAL_KINDS)} or 'any'"
                )
            return tuple(sorted(set(value)))
        return value

    @field_validator("subprocesses", mode="before")
    @classmethod
    def _subprocesses(cls, value: object) -> object:
        if value in ("none", None):
            return ()
        if isinstance(value, str) and value != "any":
            value = [value]
        if isinstance(value, list | tuple):
            bad = [item for item in value if not isinstance(item, str) or not _PROGRAM.match(item)]
            if bad:
                raise PermissionsInvalid(
                    f"subprocesses lists {bad[0]!r}; name programs by their file name on the PATH, e.g. 'tesseract', "
                    "or write 'any'"
                )
            return tuple(sorted(set(value)))
        return value

    # -- views ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        """The plain-JSON form (as in the TOML file; hosts as strings)."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        if isinstance(self.network, tuple):
            data["network"] = [str(rule) for rule in self.network]
        if self.paths:
            data["paths"] = [str(item) for item in self.paths]
        return data

    @classmethod
    def from_json(cls, data: object, *, source: str = "permissions") -> Permissions:
        """Read the plain-JSON form (see :meth:`to_json`).

        Raises:
            PermissionsInvalid: It does not describe permissions; the message names the field.
        """
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise PermissionsInvalid(f"{source} must be a table of permissions, not {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except PermissionsInvalid:
            raise
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"] if not isinstance(part, int)) or "permissions"
            if first["type"] == "extra_forbidden":
                known = ", ".join(cls.model_fields)
                raise PermissionsInvalid(
                    f"{source}: '{where}' is not a permission; the permissions are {known}"
                ) from None
            cause = first.get("ctx", {}).get("error")
            message = str(cause) if isinstance(cause, PermissionsInvalid) else first["msg"]
            raise PermissionsInvalid(f"{source}: '{where}': {message}") from None

    def is_empty(self) -> bool:
        """Whether it asks for nothing beyond running in the sandbox with the host's default limits."""
        return self == Permissions()

    def describe(self) -> list[str]:
        """One sentence per permission, for people deciding whether to grant it."""
        lines: list[str] = []
        if self.unsandboxed:
            lines.append("run WITHOUT the sandbox, with every right of the host's user (keys, database, network)")
        if self.network == "any":
            lines.append("connect to any public host on the internet (through the egress proxy)")
        elif isinstance(self.network, tuple):
            lines.append("connect to " + ", ".join(str(rule) for rule in self.network))
        if self.files == "data":
            lines.append("keep files in its own data folder")
        elif self.files == "paths":
            chosen = ", ".join(str(item) for item in self.paths) or "none chosen yet"
            lines.append(f"read folders you choose, and keep files in its own data folder ({chosen})")
        if self.secrets == "any":
            lines.append("receive credentials of any kind that a workflow hands it")
        elif self.secrets:
            lines.append("receive credentials of kind " + ", ".join(self.secrets) + " that a workflow hands it")
        if self.subprocesses == "any":
            lines.append("run any program installed on the system")
        elif self.subprocesses:
            lines.append("run the programs " + ", ".join(self.subprocesses))
        if self.nested_sandbox:
            lines.append("create sandboxes of its own (user namespaces) to run code in")
        if self.memory_mb is not None:
            lines.append(f"use up to {self.memory_mb} MB of memory")
        if self.cpu is not None:
            lines.append(f"use up to {self.cpu:g} CPU cores")
        return lines or ["nothing beyond running in the sandbox"]

    def network_policy(self, base: NetworkPolicy) -> NetworkPolicy:
        """``base`` (the workspace's policy, or the host's) narrowed to the hosts this grant allows.

        The granted hosts become :attr:`NetworkPolicy.hosts`; an address granted by number
        (``10.0.0.5:9000``) also joins ``allow``, since naming the address is the operator's
        choice to reach it. A name is never trusted that way: what it resolves to is judged
        like any other address (a plugin's author may control its DNS).
        """
        if self.network == "any":
            return base
        if self.network == "none":
            return replace(base, hosts=())
        hosts = tuple(str(rule) for rule in self.network)
        if base.hosts is not None:  # a policy already narrowed stays at most that narrow
            hosts = tuple(entry for entry in hosts if entry in base.hosts)
        addresses = tuple(rule.host for rule in self.network if rule.is_address and rule.host not in base.allow)
        return replace(base, allow=base.allow + tuple(dict.fromkeys(addresses)), hosts=hosts)

    # -- grants --------------------------------------------------------------------------------

    def not_covered_by(
        self, grant: Permissions, *, default_memory_mb: int = DEFAULT_MEMORY_MB, default_cpu: float = DEFAULT_CPU
    ) -> list[str]:
        """What this declaration asks for that ``grant`` does not allow, as ``--grant`` items.

        An empty list means the grant covers the declaration. Memory and CPU up to the host's
        defaults need no grant.
        """
        missing: list[str] = []
        if self.unsandboxed and not grant.unsandboxed:
            missing.append("unsandboxed")
        if self.network == "any" and grant.network != "any":
            missing.append("network=any")
        elif isinstance(self.network, tuple) and grant.network != "any":
            granted = grant.network if isinstance(grant.network, tuple) else ()
            missing += [f"network={rule}" for rule in self.network if not any(have.covers(rule) for have in granted)]
        if _FILES_ORDER[self.files] > _FILES_ORDER[grant.files]:
            missing.append(f"files={self.files}")
        if self.secrets == "any" and grant.secrets != "any":
            missing.append("secrets=any")
        elif isinstance(self.secrets, tuple) and grant.secrets != "any":
            missing += [f"secrets={kind}" for kind in self.secrets if kind not in grant.secrets]
        if self.subprocesses == "any" and grant.subprocesses != "any":
            missing.append("subprocesses=any")
        elif isinstance(self.subprocesses, tuple) and grant.subprocesses != "any":
            missing += [f"subprocesses={name}" for name in self.subprocesses if name not in grant.subprocesses]
        if self.nested_sandbox and not grant.nested_sandbox:
            missing.append("nested_sandbox")
        memory = self.memory_mb or 0
        if memory > (grant.memory_mb or default_memory_mb):
            missing.append(f"memory_mb={memory}")
        cpu = self.cpu or 0.0
        if cpu > (grant.cpu or default_cpu):
            missing.append(f"cpu={cpu:g}")
        return missing

    def with_items(self, items: Sequence[str], *, declared: Permissions | None = None) -> Permissions:
        """This grant widened by ``--grant`` items: ``all``, ``KIND`` or ``KIND=VALUE``.

        ``all`` and a bare ``KIND`` grant what ``declared`` asks for (of that kind).

        Raises:
            PermissionsInvalid: An item names no permission or has a malformed value.
        """
        wanted = declared or Permissions()
        data = self.model_dump()
        for raw in items:
            item = raw.strip()
            if item == "all":
                data = _widen(Permissions.model_validate(data), wanted).model_dump()
                continue
            key, sep, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if key not in Permissions.model_fields:
                raise PermissionsInvalid(
                    f"--grant {raw!r} names no permission; write 'all' or one of "
                    f"{', '.join(Permissions.model_fields)}, e.g. 'network=api.example.com' or 'secrets=api_key'"
                )
            current = Permissions.model_validate(data)
            if not sep:
                if key in {"nested_sandbox", "unsandboxed"}:
                    data[key] = True
                elif key == "paths":
                    raise PermissionsInvalid("--grant paths needs a folder: 'paths=/srv/documents:ro'")
                else:
                    data[key] = getattr(_widen(current, wanted), key)
                continue
            data[key] = _add(current, key, value.strip())
            if key == "paths":
                data["files"] = "paths"  # a chosen folder is shared only with files = "paths"
        try:
            return Permissions.model_validate(data)
        except ValidationError as exc:
            raise PermissionsInvalid(f"--grant: {exc.errors()[0]['msg']}") from None


def _host_pattern(item: object) -> HostPattern:
    if isinstance(item, HostPattern):
        return item
    if isinstance(item, dict):
        return HostPattern.model_validate(item)
    return HostPattern.parse(str(item))


def _widen(grant: Permissions, declared: Permissions) -> Permissions:
    """``grant`` plus everything ``declared`` asks for."""
    data = grant.model_dump()
    for item in declared.not_covered_by(grant, default_memory_mb=0, default_cpu=0.0):
        key, _, value = item.partition("=")
        data[key] = True if not value else _add(Permissions.model_validate(data), key, value)
    return Permissions.model_validate(data)


def _add(current: Permissions, key: str, value: str) -> object:
    """The value of ``key`` after adding ``value`` to what ``current`` has."""
    if key in {"network", "secrets", "subprocesses"}:
        have = getattr(current, key)
        if value == "any" or have == "any":
            return "any"
        if value == "none":
            return have
        new = [part.strip() for part in value.split(",") if part.strip()]
        if key == "network":
            rules = list(have) if isinstance(have, tuple) else []
            return rules + [HostPattern.parse(part) for part in new]
        return [*have, *new]
    if key == "files":
        if value not in _FILES_ORDER:
            raise PermissionsInvalid(f"files={value!r}: write files=none, files=data or files=paths")
        return max(current.files, value, key=_FILES_ORDER.__getitem__)
    if key == "paths":
        return [*current.paths, *(FileGrant.parse(part) for part in value.split(",") if part)]
    if key in {"nested_sandbox", "unsandboxed"}:
        if value not in {"true", "false"}:
            raise PermissionsInvalid(f"{key}={value!r}: write {key} or {key}=false")
        return value == "true"
    try:
        number = float(value) if key == "cpu" else int(value)
    except ValueError:
        raise PermissionsInvalid(f"{key}={value!r} is not a number") from None
    return number


def parse_permissions(text: str, *, source: str = PERMISSIONS_FILE) -> Permissions:
    """The permissions a ``synthral-plugin.toml`` declares.

    Raises:
        PermissionsInvalid: The file is not TOML or its ``[permissions]`` table is malformed;
            the message names ``source``, the field and the fix.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PermissionsInvalid(f"{source} is not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"permissions"})
    if unknown:
        raise PermissionsInvalid(f"{source} has a table {unknown[0]!r}; it holds only [permissions]")
    grant = Permissions.from_json(document.get("permissions"), source=f"{source} [permissions]")
    if grant.paths:
        raise PermissionsInvalid(
            f"{source} [permissions]: 'paths' are chosen by whoever installs the plugin; declare files = \"paths\""
        )
    return grant


def package_of(entry_point_value: str) -> str:
    """The top-level package of an entry point's module (``pkg.hooks:obj`` → ``pkg``)."""
    return entry_point_value.partition(":")[0].strip().split(".", 1)[0]


def read_permissions(package_dir: Path) -> Permissions:
    """The permissions declared in ``package_dir``; none when it has no ``synthral-plugin.toml``.

    Raises:
        PermissionsInvalid: The file is malformed.
    """
    path = package_dir / PERMISSIONS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Permissions()
    return parse_permissions(text, source=str(path))
