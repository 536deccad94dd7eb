"""The sandbox the conformance suite starts a plugin's runner in: the host's, from the author's side.

The same bubblewrap command line, seccomp filters and limits as the host's
(:mod:`synthral_sdk._plugin_sandbox`), granted exactly what the distribution declares in its
``synthral-plugin.toml``: a plugin that reads a file, reaches a host or starts a program it did
not declare fails its conformance tests before it is published. What only a host has is
simplified: blobs are shared read-write, a granted network goes through an allow-list proxy
that also lets the author's local stand-ins on loopback answer, and limits are rlimits.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from synthral_sdk import _seccomp
from synthral_sdk._plugin_sandbox import SandboxPlan, bwrap_problem, find_bwrap, sandbox_command, sandbox_env
from synthral_sdk._plugin_set import discover_entry_points
from synthral_sdk._sandbox_proxy import AddressJudge, AllowListProxy, Rule
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.permissions import DEFAULT_MEMORY_MB, Permissions, package_of, read_permissions

__all__ = ["ConformanceSandbox", "declared_permissions", "sandbox_unavailable"]


def sandbox_unavailable() -> str | None:
    """Why runners cannot be sandboxed here (not Linux, no bubblewrap...), or ``None``."""
    return bwrap_problem(find_bwrap(os.environ.get("SYNTHRAL_BWRAP") or None))


def _site_packages(venv: Path) -> list[Path]:
    return sorted(venv.glob("lib/python3*/site-packages"))


def declared_permissions(dist: str, venv: Path | None = None) -> Permissions:
    """What ``dist`` declares, read without importing it: from this environment, or from ``venv``.

    Raises:
        PermissionsInvalid: Its ``synthral-plugin.toml`` is malformed.
        ValueError: ``dist`` is not installed there.
    """
    if venv is None or venv.resolve() == Path(sys.prefix).resolve():
        refs = discover_entry_points(dist)
        if not refs:
            return Permissions()
        spec = importlib.util.find_spec(package_of(refs[0].value))
        if spec is None or not spec.submodule_search_locations:
            return Permissions()
        return read_permissions(Path(next(iter(spec.submodule_search_locations))))
    sites = _site_packages(venv)
    found = next(iter(importlib.metadata.distributions(name=dist, path=[str(site) for site in sites])), None)
    if found is None:
        raise ValueError(f"{dist} is not installed in {venv}; install it there first")
    eps = [ep for ep in found.entry_points if ep.group == "synthral.plugins"]
    if not eps:
        return Permissions()
    package = package_of(eps[0].value)
    roots = [*sites, *_pth_folders(sites)]
    folder = next((root / package for root in roots if (root / package).is_dir()), None)
    return read_permissions(folder) if folder is not None else Permissions()


def _pth_folders(sites: Sequence[Path]) -> list[Path]:
    """Folders ``.pth`` files add to a venv's path (editable installs)."""
    folders: list[Path] = []
    for site in sites:
        for pth in site.glob("*.pth"):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                for line in pth.read_text().splitlines():
                    if line.startswith("/") and Path(line.strip()).is_dir():
                        folders.append(Path(line.strip()).resolve())
    return folders


def _outside(path: Path, roots: Sequence[Path]) -> bool:
    return not any(path == root or path.is_relative_to(root) for root in roots)


class ConformanceSandbox:
    """The folders, proxy and command line of one sandboxed runner.

    Args:
        dist: The distribution under test (its declaration is the grant).
        python: The interpreter of the plugin's venv.
        blob_root: The blob store the runner shares with the test.
        grant: What it may do; by default what ``dist`` declares.
    """

    def __init__(self, dist: str, *, python: str, blob_root: Path, grant: Permissions | None = None) -> None:
        venv = Path(python).absolute().parent.parent
        self.grant = grant if grant is not None else declared_permissions(dist, venv)
        if not (venv / "pyvenv.cfg").is_file():
            raise ValueError(
                f"{python} is not a virtualenv's interpreter; the conformance sandbox runs plugins from their venv "
                "(uv sync; uv run pytest), or set sandboxed = False on the test class"
            )
        self.folder = Path(tempfile.mkdtemp(prefix="synthral-conformance-"))
        (self.folder / "scratch").mkdir()
        (self.folder / "data").mkdir()
        self.proxy: AllowListProxy | None = None
        if self.grant.network != "none":
            (self.folder / "egress").mkdir()
            rules: list[Rule] | None = None if self.grant.network == "any" else [*self.grant.network, _LOOPBACK]
            # The policy tests run under (this machine reachable), narrowed to the grant, as a host would.
            judge = _judge(self.grant.network_policy(NetworkPolicy.local()))
            self.proxy = AllowListProxy(self.folder / "egress" / "proxy.sock", rules, judge=judge, upstream="")
        roots = [venv.resolve(), Path(sys.base_prefix).resolve(), Path("/usr")]
        # Editable installs (the plugin under test, the SDK beside it) live outside the venv.
        entries = [Path(entry).resolve() for entry in sys.path if entry] + _pth_folders(_site_packages(venv))
        sources = {entry for entry in entries if entry.is_dir() and _outside(entry, roots)}
        self.plan = SandboxPlan(
            venv=venv,
            grant=self.grant,
            data_dir=self.folder / "data",
            scratch=self.folder / "scratch",
            blob_root=blob_root,
            blob_source=None,
            egress_dir=self.folder / "egress" if self.proxy is not None else None,
            memory_bytes=(self.grant.memory_mb or DEFAULT_MEMORY_MB) * 1_048_576,
            extra_read_only=tuple(sorted(sources)),
        )

    def command(self, runner_args: Sequence[str], env: Mapping[str, str]) -> tuple[list[str], int]:
        """The command line and the seccomp descriptor the child must inherit (closed by the caller).

        Raises:
            RuntimeError: bubblewrap cannot sandbox processes here.
        """
        bwrap = find_bwrap(os.environ.get("SYNTHRAL_BWRAP") or None)
        problem = bwrap_problem(bwrap)
        if problem is not None or bwrap is None:
            raise RuntimeError(f"the conformance sandbox is unavailable: {problem}")
        fd = os.memfd_create("synthral-seccomp", 0)
        os.write(fd, _seccomp.base_filter(nested_sandbox=self.grant.nested_sandbox))
        os.lseek(fd, 0, os.SEEK_SET)
        full_env = sandbox_env(self.plan, {"SYNTHRAL_PLUGIN_DATA": str(self.plan.data_dir), **env})
        try:
            return sandbox_command(self.plan, bwrap=bwrap, seccomp_fd=fd, runner_args=runner_args, env=full_env), fd
        except BaseException:
            os.close(fd)
            raise

    def close(self) -> None:
        """Stop the proxy and remove the runner's folders."""
        if self.proxy is not None:
            with contextlib.suppress(OSError):
                self.proxy.close()
            self.proxy = None
        shutil.rmtree(self.folder, ignore_errors=True)


class _Loopback:
    """The author's stand-ins on loopback, on any port, whatever hosts the plugin declares."""

    def matches(self, host: str, port: int) -> bool:
        del port
        return host.strip("[]") in {"127.0.0.1", "::1", "localhost"}


_LOOPBACK = _Loopback()


def _judge(policy: NetworkPolicy) -> AddressJudge:
    """Public addresses and the author's stand-ins on loopback; other internal ones only as ``policy`` allows."""

    def judge(host: str, port: int, address: str) -> str | None:
        del port
        reason = policy.refusal(host, address)
        return (
            None if reason is None else f"{host} resolves to {address}, a {reason} address the host refuses to plugins"
        )

    return judge
