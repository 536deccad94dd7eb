"""The ``gvisor`` code runtime: native CPython and Node.js inside gVisor, one sandbox per run.

gVisor's ``runsc`` runs the code on a kernel written in Go (the Sentry) that implements
Linux's system calls itself, so the code never talks to the host kernel directly. Each run
is an OCI container: a read-only empty root with the host's /usr bound read-only, the run's
scratch and control folders, read-only package folders, no network (loopback only), rlimits
and a user id of its own.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import secrets
import shutil
import subprocess
import threading
from pathlib import Path
from typing import ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field

from synthral_code_gvisor._bundle import write_bundle
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

__all__ = ["GvisorConfig", "GvisorRuntime"]

NAME: Final = "code-gvisor"
RESULT_LIMIT: Final = 16 * 1_048_576
NODE_RESERVE_MB: Final = 1024
SIGXCPU_CODES: Final = frozenset({-24, 128 + 24})
_UIDS: set[int] = set()
_UID_LOCK = threading.Lock()


class GvisorConfig(BaseModel):
    """Where runsc and the interpreters are, and where packages come from."""

    model_config = ConfigDict(extra="forbid")

    runsc: str = Field(default="/usr/bin/runsc", description="gVisor's runsc binary (Debian package 'runsc').")
    platform: str = Field(
        default="ptrace",
        description="How the Sentry intercepts system calls: 'ptrace' works everywhere, 'kvm' is faster.",
    )
    python: str = Field(default="/usr/bin/python3", description="The CPython inside the sandbox (under /usr).")
    node: str = Field(default="/usr/bin/node", description="The Node.js inside the sandbox (under /usr).")
    uid_base: int = Field(default=300_000, ge=1000, description="First of 65,536 user ids given to runs.")
    state_dir: str | None = Field(default=None, description="runsc's state folder (--root); a private one by default.")
    index_url: str | None = Field(default=None, description="The package index for 'packages'; pip's default if unset.")
    find_links: list[str] = Field(default_factory=list, description="Folders or pages of wheels to take packages from.")
    cache_dir: str | None = Field(default=None, description="Where installed packages are kept.")


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
            f"{NAME} needs {path} (config '{field}'); install the Debian package '{package}' or set '{field}'",
            details={"field": field, "path": path},
        )
    if field != "runsc" and not os.path.realpath(path).startswith("/usr/"):
        raise ConfigurationError(
            f"{path} is not under /usr, the only system folder a sandbox sees; set '{field}' to one that is",
            details={"field": field, "path": path},
        )


def _allocate_uid(base: int) -> int:
    with _UID_LOCK:
        while True:
            uid = base + secrets.randbelow(65536)
            if uid not in _UIDS:
                _UIDS.add(uid)
                return uid


def _release_uid(uid: int) -> None:
    with _UID_LOCK:
        _UIDS.discard(uid)


class GvisorRuntime(CodeRuntime[GvisorConfig]):
    """Python or JavaScript inside gVisor: a user-space kernel between the code and the host.

    Python reads ``inputs`` and assigns ``result``; JavaScript is an async function body that
    receives ``inputs`` and returns its result. Needs root (runsc creates the sandbox) and
    the Debian package ``runsc``.
    """

    name = "gvisor"
    title = "Python and JavaScript (gVisor sandbox)"
    languages: ClassVar[tuple[str, ...]] = ("python", "javascript")

    def execute(self, request: CodeRequest, config: GvisorConfig, context: Context) -> CodeResult:
        """Run the code in a fresh gVisor sandbox within the request's limits."""
        language = check_language(request, NAME, self.languages)
        rules = parse_rules(request.network)
        _require(config.runsc, "runsc", "runsc")
        _require(config.python, "python", "python3")
        if os.geteuid() != 0:
            raise ConfigurationError(
                f"{NAME} starts gVisor sandboxes with runsc, which needs root here; run the plugin host as root "
                "or use code-bwrap",
            )
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
        uid = _allocate_uid(config.uid_base)
        folder = RunFolder(prefix="synthral-gvisor-")
        proxy: AllowListProxy | None = None
        try:
            folder.place_files(request.files, context.blobs)
            folder.write_request(request, cwd="/scratch", paths=[f"/packages/{i}" for i in range(len(folders))])
            bootstrap = folder.write_bootstrap(language)
            for path in [folder.scratch, folder.control, *folder.scratch.rglob("*"), *folder.control.rglob("*")]:
                os.chown(path, uid, uid, follow_symlinks=False)
            command = [config.python if language == "python" else config.node]
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
            bundle = folder.path / "bundle"
            bundle.mkdir()
            write_bundle(
                bundle,
                scratch=folder.scratch,
                control=folder.control,
                packages=folders,
                command=command,
                env=env,
                uid=uid,
                gid=uid,
                memory_bytes=memory_mb * 1_048_576,
                cpu_seconds=math.ceil(request.cpu_limit) + 1,
                processes=request.max_processes + 2,
            )
            return self._run(folder, bundle, config, network=bool(rules), request=request, context=context)
        finally:
            if proxy is not None:
                proxy.close()
            _release_uid(uid)
            folder.remove()

    def _run(
        self,
        folder: RunFolder,
        bundle: Path,
        config: GvisorConfig,
        *,
        network: bool,
        request: CodeRequest,
        context: Context,
    ) -> CodeResult:
        state = Path(config.state_dir) if config.state_dir else Path("/run/synthral-runsc")
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        container = f"synthral-{secrets.token_hex(8)}"
        runsc = [config.runsc, "--root", str(state), "--platform", config.platform, "--network", "none"]
        runsc += ["--ignore-cgroups", "--host-uds", "open" if network else "none"]
        process = subprocess.Popen(
            [*runsc, "run", "--bundle", str(bundle), container],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            cwd=bundle,
            start_new_session=True,
        )

        def kill() -> None:
            subprocess.run([*runsc, "kill", container, "KILL"], capture_output=True, timeout=30, check=False)
            with contextlib.suppress(ProcessLookupError):
                process.kill()

        try:
            driven = drive(process, request, context, kill=kill)
        finally:
            subprocess.run([*runsc, "delete", "--force", container], capture_output=True, timeout=60, check=False)
            shutil.rmtree(bundle, ignore_errors=True)
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
            elif "running container" in said or said.startswith(("runsc", "creating container")):
                raise ConfigurationError(
                    f"runsc could not start the sandbox: {said.strip()[-400:]}; try config 'platform' ptrace or kvm",
                    details={"stderr": said[-2000:]},
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
            "gvisor run: exit %s%s in %.1f ms",
            result.exit_code,
            f", {limit} limit" if limit else "",
            driven.duration_ms,
        )
        return result

    def _packages(self, config: GvisorConfig) -> PackageCache:
        root = Path(config.cache_dir) if config.cache_dir else Path("/var/cache/synthral-code-gvisor")
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        return PackageCache(
            root / "packages", python_version=_python_version(config.python), pure_only=False, runtime=NAME
        )
