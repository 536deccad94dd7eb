"""The ``e2b`` code runtime: each run in a fresh E2B cloud sandbox, through the official ``e2b`` SDK.

A run creates a sandbox (network off, or only the listed hosts), writes the bootstrap, the
request and the input files with the sandbox's file API, runs the interpreter under
``ulimit`` (CPU seconds, memory, file size, processes) with the command API, streams the
output with the caps applied here, reads the outcome and the files the code wrote, and
kills the sandbox. The API key is the call's granted secret ``api_key``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shlex
import time
from pathlib import PurePosixPath
from typing import Any, ClassVar, Final, Literal

from e2b import AsyncSandbox, CommandExitException
from e2b.exceptions import (
    AuthenticationException,
    NotFoundException,
    RateLimitException,
    SandboxException,
    TimeoutException,
)
from pydantic import BaseModel, ConfigDict, Field

from synthral_sdk import CodeRequest, CodeResult, CodeRuntime, Context
from synthral_sdk.errors import ConfigurationError, InputInvalid, NonRetryableError, RetryableError
from synthral_sdk.sandbox import (
    JAVASCRIPT_BOOTSTRAP,
    PYTHON_BOOTSTRAP,
    CappedOutput,
    LimitName,
    Outcome,
    build_result,
    check_language,
    parse_rules,
)

__all__ = ["E2BConfig", "E2BRuntime"]

NAME: Final = "code-e2b"
API_KEY: Final = "api_key"
NODE_RESERVE_MB: Final = 1024
RESULT_LIMIT: Final = 16 * 1_048_576
MAX_RESULT_FILES: Final = 32
SIGXCPU_EXIT: Final = 128 + 24
SIGKILL_EXIT: Final = 128 + 9


class E2BConfig(BaseModel):
    """Which E2B template runs the code, and where E2B is."""

    model_config = ConfigDict(extra="forbid")

    template: str = Field(default="base", description="The sandbox template (it needs python3, and node for JS).")
    domain: str | None = Field(default=None, description="E2B's domain for self-hosted E2B; e2b.app by default.")
    api_url: str | None = Field(default=None, description="The control-plane URL, when not https://api.<domain>.")
    sandbox_url: str | None = Field(default=None, description="One URL for every sandbox (a gateway or a stand-in).")
    http_version: Literal["1.1", "2"] = Field(default="2", description="HTTP version towards E2B.")
    workdir: str = Field(default="/home/user", description="The folder runs work in inside the sandbox.")
    python: str = Field(default="python3", description="The sandbox's Python.")
    node: str = Field(default="node", description="The sandbox's Node.js.")
    request_timeout_s: float = Field(default=30.0, gt=0, le=300, description="How long one API request may take.")


def _limits(request: CodeRequest, language: str) -> str:
    memory_kb = (request.memory_mb + (NODE_RESERVE_MB if language == "javascript" else 0)) * 1024
    cpu = math.ceil(request.cpu_limit)
    # The soft CPU limit sends SIGXCPU (exit 152); the hard one, a second later, SIGKILL.
    return (
        f"ulimit -S -t {cpu} && ulimit -H -t {cpu + 1} && ulimit -v {memory_kb} -f {256 * 1024} "
        f"-u {request.max_processes + 8} -c 0"
    )


class E2BRuntime(CodeRuntime[E2BConfig]):
    """Python or JavaScript in an E2B sandbox, a fresh one per run.

    The isolation is E2B's (Firecracker microVMs); this plugin adds the limits (ulimit
    inside the sandbox, the wall clock and the output caps here) and asks E2B for no
    network, or for an allow-list of the listed hosts.
    """

    name = "e2b"
    title = "Python and JavaScript (E2B cloud sandbox)"
    secrets = (API_KEY,)
    languages: ClassVar[tuple[str, ...]] = ("python", "javascript")

    async def execute(self, request: CodeRequest, config: E2BConfig, context: Context) -> CodeResult:
        """Run the code in a fresh E2B sandbox within the request's limits."""
        language = check_language(request, NAME, self.languages)
        rules = parse_rules(request.network)
        if request.packages:
            raise InputInvalid(
                "code-e2b takes packages from the sandbox template; build a template with them, or use code-bwrap",
                details={"field": "packages"},
            )
        api_key = context.secrets.get(API_KEY)
        if not api_key:
            raise ConfigurationError(
                f"{NAME} needs an E2B API key: grant the secret '{API_KEY}' (a workspace credential) to the step "
                "or to the sandbox",
                details={"secret": API_KEY},
            )
        network: dict[str, Any] = {}
        if rules:
            network["network"] = {"allow_out": sorted({rule.host for rule in rules}), "deny_out": ["0.0.0.0/0"]}
        else:
            network["allow_internet_access"] = False
        started = time.perf_counter()
        try:
            sandbox = await AsyncSandbox.create(
                template=config.template,
                timeout=max(60, math.ceil(request.timeout_s) + 60),
                metadata={"synthral": "code"},
                api_key=api_key,
                domain=config.domain,
                api_url=config.api_url,
                sandbox_url=config.sandbox_url,
                http_version=config.http_version,
                request_timeout=config.request_timeout_s,
                **network,
            )
        except AuthenticationException as exc:
            raise NonRetryableError(f"E2B refused the API key: {exc}; grant a valid key as '{API_KEY}'") from None
        except RateLimitException as exc:
            raise RetryableError(f"E2B is rate limiting: {exc}", retryable=True) from None
        except SandboxException as exc:
            raise RetryableError(f"E2B could not create a sandbox: {exc}") from None
        try:
            return await self._run(sandbox, request, config, language=language, context=context, started=started)
        finally:
            with contextlib.suppress(Exception):  # the sandbox also ends at its own timeout
                await sandbox.kill()

    async def _run(
        self,
        sandbox: AsyncSandbox,
        request: CodeRequest,
        config: E2BConfig,
        *,
        language: str,
        context: Context,
        started: float,
    ) -> CodeResult:
        root = PurePosixPath(config.workdir) / ".synthral-run"
        scratch, control = root / "scratch", root / "control"
        bootstrap = control / ("bootstrap.py" if language == "python" else "bootstrap.js")
        document = {"code": request.code, "inputs": request.inputs, "cwd": "", "paths": []}  # the shell cds
        await sandbox.files.write(str(bootstrap), PYTHON_BOOTSTRAP if language == "python" else JAVASCRIPT_BOOTSTRAP)
        await sandbox.files.write(str(control / "request.json"), json.dumps(document).encode())
        inputs: set[str] = set()
        for index, ref in enumerate(request.files):
            name = ref.name or ""
            if not name or "/" in name or name in {".", ".."}:
                raise InputInvalid(f"files[{index}] needs a plain file name, has {name!r}")
            await sandbox.files.write(str(scratch / name), context.blobs.get(ref))
            inputs.add(name)
        interpreter = shlex.quote(config.python if language == "python" else config.node)
        flags = "-I" if language == "python" else f"--max-old-space-size={request.memory_mb}"
        run = (
            f"mkdir -p {shlex.quote(str(scratch))} && cd {shlex.quote(str(scratch))} && "
            f"( {_limits(request, language)} && exec {interpreter} {flags} {shlex.quote(str(bootstrap))} "
            f"{shlex.quote(str(control / 'request.json'))} {shlex.quote(str(control / 'outcome.json'))} ); "
            f"status=$?; times > {shlex.quote(str(control / 'times.txt'))}; exit $status"
        )
        stdout = CappedOutput(request.output_bytes)
        stderr = CappedOutput(request.output_bytes)
        overflow = asyncio.Event()

        def keep(stream: CappedOutput) -> Any:
            def feed(text: str) -> None:
                if not stream.feed(text.encode()):
                    overflow.set()

            return feed

        handle = await sandbox.commands.run(
            run,
            background=True,
            envs={"HOME": str(scratch), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"},
            on_stdout=keep(stdout),
            on_stderr=keep(stderr),
            timeout=request.timeout_s + 5,
        )
        limit: LimitName | None = None
        exit_code = 0
        waiting = asyncio.ensure_future(handle.wait())
        overflowing = asyncio.ensure_future(overflow.wait())
        try:
            done, _ = await asyncio.wait(
                {waiting, overflowing}, timeout=request.timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            if overflowing in done:
                limit = "output"
            elif waiting in done:
                try:
                    exit_code = waiting.result().exit_code
                except CommandExitException as exc:
                    exit_code = exc.exit_code
                except TimeoutException:
                    limit = "timeout"
            else:
                limit = "timeout"
        finally:
            for task in (waiting, overflowing):
                task.cancel()
            if limit is not None:
                with contextlib.suppress(Exception):
                    await handle.kill()
        outcome = None
        cpu_s = 0.0
        if limit is None:
            outcome = await self._outcome(sandbox, control)
            cpu_s = await self._cpu_seconds(sandbox, control)
        if (
            outcome is None
            and limit is None
            and (exit_code == SIGXCPU_EXIT or (exit_code == SIGKILL_EXIT and cpu_s >= request.cpu_limit))
        ):
            limit = "cpu"
        files = await self._files(sandbox, scratch, inputs, context) if limit is None else []
        return build_result(
            outcome=outcome,
            returncode=exit_code,
            stdout=stdout,
            stderr=stderr,
            limit=limit,
            duration_ms=(time.perf_counter() - started) * 1000,
            cpu_s=cpu_s,
            files=files,
        )

    async def _outcome(self, sandbox: AsyncSandbox, control: PurePosixPath) -> Outcome | None:
        try:
            data = await sandbox.files.read(str(control / "outcome.json"), format="bytes")
        except NotFoundException:
            return None
        if len(data) > RESULT_LIMIT:
            return None
        error = None
        try:
            document = json.loads(data)
        except ValueError:
            return None
        if isinstance(document.get("error"), dict):
            from synthral_sdk import CodeError  # noqa: PLC0415 -- only when the code failed

            error = CodeError.model_validate(document["error"])
        code = document.get("exit_code")
        return Outcome(exit_code=code if isinstance(code, int) else 1, result=document.get("result"), error=error)

    async def _cpu_seconds(self, sandbox: AsyncSandbox, control: PurePosixPath) -> float:
        """The children's user and system time that bash's ``times`` wrote (its second line)."""
        try:
            text = (await sandbox.files.read(str(control / "times.txt"))).splitlines()
        except NotFoundException:
            return 0.0
        total = 0.0
        for part in (text[1] if len(text) > 1 else "").split():
            minutes, _, seconds = part.rstrip("s").partition("m")
            with contextlib.suppress(ValueError):
                total += float(minutes) * 60 + float(seconds)
        return total

    async def _files(
        self, sandbox: AsyncSandbox, scratch: PurePosixPath, inputs: set[str], context: Context
    ) -> list[Any]:
        listing = await sandbox.commands.run(
            f"cd {shlex.quote(str(scratch))} && find . -maxdepth 3 -type f -size -16M | head -n {MAX_RESULT_FILES}"
        )
        found = []
        for line in listing.stdout.splitlines():
            name = line.removeprefix("./")
            if not name or name in inputs:
                continue
            data = await sandbox.files.read(str(scratch / name), format="bytes")
            found.append(context.blobs.put(bytes(data), name=name))
        return found
