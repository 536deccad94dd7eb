"""The ``bwrap`` code runtime: native CPython and Node.js under bubblewrap, one sandbox per run."""

from __future__ import annotations

import atexit
import functools
import math
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field

from synthral_code_bwrap._sandbox import Identity, Limits, bwrap_command, filter_fd
from synthral_sdk import CodeRequest, CodeResult, CodeRuntime, Context
from synthral_sdk.errors import ConfigurationError, InputInvalid
from synthral_sdk.sandbox import (
    PROXY_PORT,
    RELAY,
    AllowListProxy,
    CappedOutput,
    Outcome,
    PackageCache,
    RunFolder,
    build_result,
    check_language,
    drive,
    parse_rules,
)

__all__ = ["BwrapConfig", "BwrapRuntime"]

NAME: Final = "code-bwrap"
RESULT_LIMIT: Final = 16 * 1_048_576
NODE_RESERVE_MB: Final = 1024
"""Address space V8 reserves up front beyond its heap; Node does not start without it."""
SIGXCPU_CODES: Final = frozenset({-24, 128 + 24})


class BwrapConfig(BaseModel):
    """Which interpreters run the code, and where packages come from."""

    model_config = ConfigDict(extra="forbid")

    python: str = Field(default="/usr/bin/python3", description="The CPython inside the sandbox (under /usr).")
    node: str = Field(default="/usr/bin/node", description="The Node.js inside the sandbox (under /usr).")
    bwrap: str = Field(default="/usr/bin/bwrap", description="The bubblewrap binary.")
    uid_base: int = Field(
        default=200_000, ge=1000, description="First of 65,536 user ids given to runs when the plugin runs as root."
    )
    index_url: str | None = Field(default=None, description="The package index for 'packages'; pip's default if unset.")
    find_links: list[str] = Field(default_factory=list, description="Folders or pages of wheels to take packages from.")
    cache_dir: str | None = Field(
        default=None, description="Where installed packages are kept; a folder every run's user can read."
    )


@functools.cache
def _python_version(python: str) -> str:
    done = subprocess.run(
        [python, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


def _require(path: str, field: str, package: str) -> None:
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ConfigurationError(
            f"{NAME} needs {path} (config '{field}'); install the Debian package '{package}' or set '{field}' to "
            "an executable under /usr",
            details={"field": field, "path": path},
        )
    if not os.path.realpath(path).startswith("/usr/") and field != "bwrap":
        raise ConfigurationError(
            f"{path} is not under /usr, the only system folder a sandbox sees; set '{field}' to one that is",
            details={"field": field, "path": path},
        )


class BwrapRuntime(CodeRuntime[BwrapConfig]):
    """Python or JavaScript under bubblewrap: namespaces, a read-only system, seccomp, rlimits.

    Python reads ``inputs`` and assigns ``result``; JavaScript is an async function body that
    receives ``inputs`` and returns its result. Packages (Python, native wheels allowed) are
    installed once and mounted read-only. With ``network`` the code reaches the listed hosts
    through an allow-list proxy (``HTTP_PROXY``/``HTTPS_PROXY``), and nothing else.
    """

    name = "bwrap"
    title = "Python and JavaScript (bubblewrap sandbox)"
    languages: ClassVar[tuple[str, ...]] = ("python", "javascript")

    def execute(self, request: CodeRequest, config: BwrapConfig, context: Context) -> CodeResult:
        """Run the code in a fresh sandbox within the request's limits."""
        language = check_language(request, NAME, self.languages)
        rules = parse_rules(request.network)
        interpreter = config.python if language == "python" else config.node
        _require(config.bwrap, "bwrap", "bubblewrap")
        _require(config.python, "python", "python3")
        if language == "javascript":
            _require(config.node, "node", "nodejs")
            if request.packages:
                raise InputInvalid(
                    "'packages' are Python packages; JavaScript code can use Node's built-in modules. Remove "
                    "'packages' or write the code in Python",
                    details={"field": "packages"},
                )
        folders = self._packages(config).ensure(
            request.packages, index_url=config.index_url, find_links=config.find_links
        )
        identity = Identity.allocate(config.uid_base)
        folder = RunFolder(prefix="synthral-bwrap-")
        proxy: AllowListProxy | None = None
        try:
            folder.place_files(request.files, context.blobs)
            folder.write_request(request, cwd="/scratch", paths=[f"/packages/{i}" for i in range(len(folders))])
            bootstrap = folder.write_bootstrap(language)
            _hand_over(folder, identity)
            command = [interpreter]
            if language == "python":
                command += ["-I", f"/.synthral/{bootstrap.name}"]
            else:
                command += [f"--max-old-space-size={request.memory_mb}", f"/.synthral/{bootstrap.name}"]
            command += ["/.synthral/request.json", "/.synthral/outcome.json"]
            env = {
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "HOME": "/scratch",
                "TMPDIR": "/tmp",  # noqa: S108 -- the sandbox's own tmpfs
                "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            if rules:
                proxy = AllowListProxy(folder.control / "proxy.sock", rules)
                url = f"http://127.0.0.1:{PROXY_PORT}"
                env |= {"HTTP_PROXY": url, "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url}
                command = [config.python, "-I", "-c", RELAY, "/.synthral/proxy.sock", str(PROXY_PORT), *command]
            memory_mb = request.memory_mb + (NODE_RESERVE_MB if language == "javascript" else 0)
            limits = Limits(
                memory_bytes=memory_mb * 1_048_576,
                cpu_seconds=math.ceil(request.cpu_limit) + 1,
                processes=request.max_processes + 3,
            )
            return self._run(
                folder, folders, identity, limits, config, command=command, env=env, request=request, context=context
            )
        finally:
            if proxy is not None:
                proxy.close()
            # Off the answer's path; the user id is free again once its files are gone.
            _in_background(_clean_up, folder, identity)

    def _run(
        self,
        folder: RunFolder,
        packages: list[Path],
        identity: Identity,
        limits: Limits,
        config: BwrapConfig,
        *,
        command: list[str],
        env: dict[str, str],
        request: CodeRequest,
        context: Context,
    ) -> CodeResult:
        fd = filter_fd()
        try:
            argv = bwrap_command(
                bwrap=config.bwrap,
                scratch=folder.scratch,
                control=folder.control,
                packages=packages,
                seccomp_fd=fd,
                env=env,
                command=command,
            )
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=[fd],
                env={},
                preexec_fn=limits.preexec(identity),  # noqa: PLW1509 -- rlimits and setuid, nothing that locks
            )
        finally:
            os.close(fd)
        driven = drive(process, request, context)
        stdout = CappedOutput(request.output_bytes, driven.stdout, driven.stdout_exceeded)
        stderr = CappedOutput(request.output_bytes, driven.stderr, driven.stderr_exceeded)
        limit = driven.limit
        outcome = None
        if limit is None:
            try:
                outcome = Outcome.read(folder.outcome_path, RESULT_LIMIT)
            except ValueError as exc:
                limit = "output"
                stderr.feed(f"\n{exc}\n".encode())
        if outcome is None and limit is None:
            said = stderr.text()
            if driven.returncode in SIGXCPU_CODES:
                limit = "cpu"
            elif "heap out of memory" in said or "Reached heap limit" in said:
                limit = "memory"
            elif said.startswith("bwrap:"):
                raise ConfigurationError(
                    f"bubblewrap could not start the sandbox ({said.strip()[:300]}); the kernel must allow user "
                    "namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0)",
                    details={"stderr": said[:2000]},
                )
        result = build_result(
            outcome=outcome,
            returncode=driven.returncode,
            stdout=stdout,
            stderr=stderr,
            limit=limit,
            duration_ms=driven.duration_ms,
            cpu_s=driven.cpu_s,
            files=folder.collect_files(context.blobs) if limit is None else (),
        )
        context.log.info(
            "%s run: exit %s%s in %.1f ms",
            command[0],
            result.exit_code,
            f", {limit} limit" if limit else "",
            driven.duration_ms,
        )
        return result

    def _packages(self, config: BwrapConfig) -> PackageCache:
        if config.cache_dir:
            root = Path(config.cache_dir)
        elif os.geteuid() == 0:
            root = Path("/var/cache/synthral-code-bwrap")
        else:
            root = Path.home() / ".cache" / "synthral-code-bwrap"
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        return PackageCache(
            root / "packages", python_version=_python_version(config.python), pure_only=False, runtime=NAME
        )


_PENDING: set[threading.Thread] = set()


def _in_background(target: Callable[..., None], *args: object) -> None:
    """Run a clean-up after the answer has gone; the process waits for it before it exits."""

    def run() -> None:
        try:
            target(*args)
        finally:
            _PENDING.discard(thread)

    thread = threading.Thread(target=run, daemon=True)
    _PENDING.add(thread)
    thread.start()


@atexit.register
def _finish_clean_ups() -> None:
    for thread in list(_PENDING):
        thread.join(timeout=10)


def _clean_up(folder: RunFolder, identity: Identity) -> None:
    folder.remove()
    identity.release()


def _hand_over(folder: RunFolder, identity: Identity) -> None:
    """Give the run's user its scratch and control folders; others may only pass through."""
    folder.path.chmod(0o711)
    if not identity.own:
        return
    for path in [folder.scratch, folder.control, *folder.scratch.rglob("*"), *folder.control.rglob("*")]:
        os.chown(path, identity.uid, identity.gid, follow_symlinks=False)
