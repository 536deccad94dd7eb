"""What every code runtime shares: the bootstraps that run user code, run folders and outcomes.

A runtime plugin starts an interpreter inside its sandbox with one of the bootstraps below.
The bootstrap reads a request document (the code, its inputs, extra import paths), runs the
code, and writes an outcome document: the result (which must be JSON) or the exception
with a traceback of the user's own frames only. stdout and stderr stay the code's own.
The runtime reads the outcome, its capped output and its limits into a
:class:`~synthral_sdk.CodeResult`. The bootstraps run inside the sandbox, so nothing in them
is a security boundary.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, cast

from pydantic import JsonValue

from synthral_sdk._runtime import CodeError, CodeRequest, CodeResult, LimitName
from synthral_sdk._sandbox_packages import PackageCache
from synthral_sdk._sandbox_process import Driven, drive, tree_cpu_seconds
from synthral_sdk._sandbox_proxy import PROXY_PORT, RELAY, AllowListProxy, HostRule, parse_rules
from synthral_sdk.blobs import BlobStore
from synthral_sdk.errors import InputInvalid
from synthral_sdk.types import BlobRef, JSONObject

__all__ = [
    "JAVASCRIPT_BOOTSTRAP",
    "PROXY_PORT",
    "PYTHON_BOOTSTRAP",
    "RELAY",
    "AllowListProxy",
    "CappedOutput",
    "Driven",
    "HostRule",
    "LimitName",
    "Outcome",
    "PackageCache",
    "RunFolder",
    "build_result",
    "check_language",
    "drive",
    "parse_rules",
    "refuse_network",
    "tree_cpu_seconds",
]

PYTHON_BOOTSTRAP: Final = r"""
import gc
import json
import linecache
import os
import sys
import traceback


def _synthral_describe(exc):
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != "<code>":
        tb = tb.tb_next
    line = None
    walk = tb
    while walk is not None:
        if walk.tb_frame.f_code.co_filename == "<code>":
            line = walk.tb_lineno
        walk = walk.tb_next
    if isinstance(exc, SyntaxError) and exc.filename == "<code>":
        line = exc.lineno
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return {"type": type(exc).__name__, "message": str(exc), "traceback": text, "line": line}


def _synthral_run(request_path, outcome_path):
    if request_path == "-":
        # Started ahead of time: say so next to the outcome, then wait for the request.
        open(os.path.join(os.path.dirname(outcome_path), "ready"), "w").close()
        raw = sys.stdin.buffer.read()
    else:
        with open(request_path, "rb") as handle:
            raw = handle.read()
    request = json.loads(raw)
    del raw
    for path in reversed(request.get("paths") or []):
        sys.path.insert(0, path)
    if request.get("cwd"):
        os.chdir(request["cwd"])
    sys.argv = ["<code>"]
    source = request["code"]
    linecache.cache["<code>"] = (len(source), None, source.splitlines(True), "<code>")
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "inputs": request.get("inputs") or {}}
    namespace.setdefault("exit", sys.exit)  # without the site module (python -S) there is no exit()
    namespace.setdefault("quit", sys.exit)
    del request
    outcome = {"exit_code": 0, "result": None, "error": None}
    try:
        exec(compile(source, "<code>", "exec"), namespace)
    except SystemExit as exc:
        code = exc.code
        outcome["exit_code"] = code if isinstance(code, int) else (0 if code is None else 1)
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
    except BaseException as exc:
        namespace.clear()
        gc.collect()
        outcome["exit_code"] = 1
        outcome["error"] = _synthral_describe(exc)
    else:
        if "result" in namespace:
            try:
                outcome["result"] = json.loads(json.dumps(namespace["result"], allow_nan=False))
            except (TypeError, ValueError) as exc:
                outcome["exit_code"] = 1
                outcome["error"] = {
                    "type": "ResultNotJSON",
                    "message": f"'result' must be JSON (dicts, lists, strings, numbers, booleans, None): {exc}",
                    "traceback": "",
                    "line": None,
                }
    namespace.clear()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    with open(outcome_path, "w") as handle:
        json.dump(outcome, handle)
    # Skip the interpreter's own shutdown: the sandbox ends with the process anyway.
    os._exit(outcome["exit_code"] if 0 <= outcome["exit_code"] < 256 else 1)


_synthral_run(sys.argv[1], sys.argv[2])
"""
"""Runs Python code: ``python BOOTSTRAP REQUEST OUTCOME`` (``REQUEST`` may be ``-`` for stdin)."""

JAVASCRIPT_BOOTSTRAP: Final = r"""
'use strict';
const fs = require('fs');
const vm = require('vm');
const [requestPath, outcomePath] = process.argv.slice(-2);
const request = JSON.parse(fs.readFileSync(requestPath === '-' ? 0 : requestPath, 'utf8'));
if (request.cwd) process.chdir(request.cwd);
const outcome = { exit_code: 0, result: null, error: null };
function describe(err) {
  const stack = err && err.stack ? String(err.stack) : String(err);
  const kept = stack.split('\n').filter((line, i) => i === 0 || !/^\s+at /.test(line) || line.includes('code.js'));
  const found = stack.match(/code\.js:(\d+)/);
  return {
    type: (err && err.name) || typeof err,
    message: err && err.message !== undefined ? String(err.message) : String(err),
    traceback: kept.join('\n'),
    line: found ? Number(found[1]) : null,
  };
}
function finish() {
  fs.writeFileSync(outcomePath, JSON.stringify(outcome));
  process.exitCode = outcome.exit_code;
}
let main;
try {
  main = vm.runInThisContext('(async function (inputs, require) {\n' + request.code + '\n})', {
    filename: 'code.js',
    lineOffset: -1,
  });
} catch (err) {
  outcome.exit_code = 1;
  outcome.error = describe(err);
  finish();
  process.exit(1);
}
Promise.resolve()
  .then(() => main(request.inputs || {}, require))
  .then(
    (value) => {
      if (value === undefined) return;
      try {
        outcome.result = JSON.parse(JSON.stringify(value));
      } catch (err) {
        outcome.exit_code = 1;
        outcome.error = { type: 'ResultNotJSON', message: 'the returned value must be JSON: ' + err.message,
                          traceback: '', line: null };
      }
    },
    (err) => {
      outcome.exit_code = 1;
      outcome.error = describe(err);
    },
  )
  .finally(finish);
"""
"""Runs JavaScript code: ``node BOOTSTRAP REQUEST OUTCOME``; the code is an async function body."""

_EXTENSIONS: Final = {"python": "py", "javascript": "js"}
MAX_RESULT_FILES: Final = 32
MAX_RESULT_BYTES: Final = 64 * 1_048_576


def check_language(request: CodeRequest, runtime: str, supported: Sequence[str]) -> str:
    """The request's language, normalised, if ``runtime`` supports it.

    Raises:
        InputInvalid: The runtime does not run that language.
    """
    language = request.language.strip().lower()
    language = {"py": "python", "python3": "python", "js": "javascript", "node": "javascript"}.get(language, language)
    if language not in supported:
        raise InputInvalid(
            f"{runtime} does not run {request.language!r}; it runs {', '.join(supported)}. "
            "Set 'language' to one of them or choose another runtime",
            details={"field": "language", "value": request.language, "supported": list(supported)},
        )
    return language


def refuse_network(request: CodeRequest, runtime: str) -> None:
    """Refuse a request that asks for network access from a runtime that has none.

    Raises:
        InputInvalid: ``request.network`` is not empty.
    """
    if request.network:
        raise InputInvalid(
            f"{runtime} gives code no network; remove 'network' ({', '.join(request.network)}) or run the code "
            "on a runtime with an allow-list proxy (code-bwrap, code-gvisor)",
            details={"field": "network", "runtime": runtime},
        )


@dataclass
class CappedOutput:
    """One output stream, kept up to ``limit`` bytes."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    exceeded: bool = False

    def feed(self, chunk: bytes) -> bool:
        """Keep what fits; return False once the stream has gone past its limit."""
        room = self.limit - len(self.data)
        if len(chunk) > room:
            self.data += chunk[: max(room, 0)]
            self.exceeded = True
            return False
        self.data += chunk
        return True

    def text(self) -> str:
        """The kept bytes as text (invalid UTF-8 replaced)."""
        return self.data.decode("utf-8", errors="replace")


@dataclass
class Outcome:
    """What the bootstrap wrote: the exit code, the result and the user's exception."""

    exit_code: int
    result: object = None
    error: CodeError | None = None

    @classmethod
    def read(cls, path: Path, limit: int) -> Outcome | None:
        """The outcome document at ``path``; None if the code never got to write it.

        Raises:
            ValueError: The document is larger than ``limit`` bytes.
        """
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        if size > limit:
            raise ValueError(f"the result is {size} bytes, more than the {limit} allowed")
        try:
            data = json.loads(path.read_bytes())
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        error = data.get("error")
        code = data.get("exit_code")
        return cls(
            exit_code=code if isinstance(code, int) else 1,
            result=data.get("result"),
            error=CodeError.model_validate(error) if isinstance(error, dict) else None,
        )


class RunFolder:
    """A fresh folder for one run: ``scratch/`` for the code, ``control/`` for request and outcome.

    The folder is private to the run (mode 0700, or owned by the run's user), and deleted with
    everything in it when the run ends.
    """

    def __init__(self, root: Path | None = None, *, prefix: str = "synthral-run-") -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
        self.scratch = self.path / "scratch"
        self.control = self.path / "control"
        self.scratch.mkdir()
        self.control.mkdir()
        self._inputs: dict[str, str] = {}

    @property
    def request_path(self) -> Path:
        """Where the request document is written."""
        return self.control / "request.json"

    @property
    def outcome_path(self) -> Path:
        """Where the bootstrap writes the outcome."""
        return self.control / "outcome.json"

    def write_request(self, request: CodeRequest, *, cwd: str, paths: Sequence[str] = ()) -> bytes:
        """Write the request document (also returned, for runtimes that pass it on stdin)."""
        document: JSONObject = {"code": request.code, "inputs": request.inputs, "cwd": cwd, "paths": list(paths)}
        data = json.dumps(document).encode()
        self.request_path.write_bytes(data)
        return data

    def write_bootstrap(self, language: str) -> Path:
        """Write the bootstrap of ``language`` into the control folder and return its path."""
        path = self.control / f"bootstrap.{_EXTENSIONS[language]}"
        path.write_text(PYTHON_BOOTSTRAP if language == "python" else JAVASCRIPT_BOOTSTRAP)
        return path

    def place_files(self, files: Sequence[BlobRef], blobs: BlobStore) -> None:
        """Copy the request's files into ``scratch/`` under their names.

        Raises:
            InputInvalid: A file has no name, or a name that is not a plain file name.
        """
        for index, ref in enumerate(files):
            name = ref.name or ""
            if not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name:
                raise InputInvalid(
                    f"files[{index}] needs a plain file name (no folders), has {name!r}; set 'name' on the blob",
                    details={"field": f"files.{index}.name"},
                )
            data = blobs.get(ref)
            (self.scratch / name).write_bytes(data)
            self._inputs[name] = hashlib.sha256(data).hexdigest()

    def collect_files(self, blobs: BlobStore) -> list[BlobRef]:
        """Store the files the code created or changed in ``scratch/`` (regular files only, capped)."""
        found: list[BlobRef] = []
        total = 0
        for path in sorted(self.scratch.rglob("*")):
            if len(found) >= MAX_RESULT_FILES:
                break
            if path.is_symlink() or not path.is_file():
                continue
            relative = path.relative_to(self.scratch).as_posix()
            size = path.stat().st_size
            if total + size > MAX_RESULT_BYTES:
                continue
            data = path.read_bytes()
            if self._inputs.get(relative) == hashlib.sha256(data).hexdigest():
                continue
            total += size
            found.append(blobs.put(data, name=relative))
        return found

    def remove(self) -> None:
        """Delete the folder and everything the code left in it."""
        with contextlib.suppress(OSError):
            for path in [self.path, *self.path.rglob("*")]:
                if path.is_dir() and not path.is_symlink():
                    path.chmod(0o700)
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


def build_result(
    *,
    outcome: Outcome | None,
    returncode: int,
    stdout: CappedOutput,
    stderr: CappedOutput,
    limit: LimitName | None,
    duration_ms: float,
    cpu_s: float,
    files: Sequence[BlobRef] = (),
) -> CodeResult:
    """The :class:`CodeResult` of a finished run, from what the runtime observed."""
    error = outcome.error if outcome is not None else None
    if limit is None and error is not None and error.type == "MemoryError":
        limit = "memory"
    if limit is None and (stdout.exceeded or stderr.exceeded):
        limit = "output"
    exit_code = outcome.exit_code if outcome is not None else (returncode or 1)
    if limit is not None and exit_code == 0:
        exit_code = 1
    return CodeResult(
        exit_code=exit_code,
        stdout=stdout.text(),
        stderr=stderr.text(),
        result=cast(JsonValue, outcome.result) if outcome is not None and limit is None else None,
        files=list(files),
        error=error,
        limit=limit,
        duration_ms=round(duration_ms, 3),
        cpu_s=round(cpu_s, 4),
        stdout_truncated=stdout.exceeded,
        stderr_truncated=stderr.exceeded,
    )
