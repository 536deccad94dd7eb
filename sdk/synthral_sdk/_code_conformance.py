"""The conformance suite every code runtime passes (exported from :mod:`synthral_sdk.testing`).

It runs real code through the runtime in process, the way the host calls it, and checks
results, output, the user's tracebacks, every limit, and what the code must not reach: the
host's files and environment, other runs' scratch folders and the network.
"""

from __future__ import annotations

import os
import tempfile
import threading
import unittest
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, cast

from synthral_sdk._runtime import CodeResult
from synthral_sdk.errors import InputInvalid
from synthral_sdk.types import JSONObject

__all__ = ["CodeRuntimeChecks"]

CANARY = f"synthral-canary-{uuid.uuid4().hex}"
"""A text that must never come back from a run that should not have seen it."""


class _CanaryHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = CANARY.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@contextmanager
def canary_server() -> Iterator[int]:
    """An HTTP server on 127.0.0.1 that answers every GET with the canary; yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CanaryHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


class CodeRuntimeChecks:
    """Checks for one code-runtime capability; mixed into :class:`~synthral_sdk.testing.CodeRuntimeConformance`.

    Attributes:
        capability: The runtime's capability name.
        config: Its config for every call.
        secrets: Secrets granted to every call (an API key for a remote runtime).
        languages: The languages it runs; 'javascript' adds the JavaScript checks.
        network: Whether it can give code network access through an allow-list.
        remote: The code runs on another machine (E2B): the checks of this machine's files,
            environment and processes are the remote's job and are skipped, saying so.
    """

    capability: ClassVar[str]
    config: ClassVar[JSONObject] = {}
    secrets: ClassVar[Mapping[str, str]] = {}
    languages: ClassVar[tuple[str, ...]] = ("python",)
    network: ClassVar[bool] = False
    remote: ClassVar[bool] = False

    def execute(self, code: str, *, language: str = "python", **fields: object) -> CodeResult:
        """Run ``code`` through the runtime in process and return its result."""
        from synthral_sdk.testing import call, load_plugin  # noqa: PLC0415 -- testing imports this module

        dist = cast(str, getattr(self, "dist"))  # noqa: B009 -- set by the PluginConformance subclass
        entry = load_plugin(dist)[self.capability]
        timeout = float(cast(float, fields.get("timeout_s", 30.0))) + 60.0
        output = call(
            entry.capability,
            {"language": language, "code": code, **fields},
            config=self.config,
            secrets=dict(self.secrets),
            timeout=timeout,
        )
        return CodeResult.model_validate(output)

    def _skip_if_remote(self, what: str) -> None:
        if self.remote:
            raise unittest.SkipTest(f"{what} is the remote sandbox's job; a local stand-in cannot show it")

    # -- results, output, errors ----------------------------------------------------------

    def test_code_turns_inputs_into_a_json_result(self) -> None:
        """The code reads ``inputs`` and its ``result`` comes back as JSON."""
        result = self.execute(
            "result = {'sum': inputs['a'] + inputs['b'], 'names': [n.upper() for n in inputs['names']]}",
            inputs={"a": 2, "b": 40, "names": ["ada", "grace"]},
        )
        assert result.ok, result
        assert result.result == {"sum": 42, "names": ["ADA", "GRACE"]}

    def test_stdout_and_stderr_are_captured_apart(self) -> None:
        """What the code prints to stdout and stderr comes back in two fields."""
        result = self.execute("import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)")
        assert result.ok, result
        assert "to stdout" in result.stdout and "to stderr" not in result.stdout
        assert "to stderr" in result.stderr and "to stdout" not in result.stderr

    def test_an_exception_comes_back_with_the_users_traceback(self) -> None:
        """A raised exception is an error with its type, message, line and the user's frames only."""
        code = "def divide(a, b):\n    return a / b\n\nvalue = divide(inputs['n'], 0)\n"
        result = self.execute(code, inputs={"n": 1})
        assert not result.ok and result.exit_code != 0
        assert result.error is not None, result
        assert result.error.type == "ZeroDivisionError"
        assert "division by zero" in result.error.message
        assert result.error.line == 2
        assert "line 4, in <module>" in result.error.traceback
        assert "line 2, in divide" in result.error.traceback
        assert "return a / b" in result.error.traceback
        assert "_synthral_run" not in result.error.traceback and "bootstrap" not in result.error.traceback

    def test_a_syntax_error_names_its_line(self) -> None:
        """Code that does not parse fails as a SyntaxError on the right line."""
        result = self.execute("x = 1\ny = (\n")
        assert result.error is not None and result.error.type == "SyntaxError", result
        assert result.error.line in {2, 3}

    def test_a_result_that_is_not_json_is_refused(self) -> None:
        """A ``result`` that cannot be JSON fails, saying so."""
        result = self.execute("result = {1, 2, 3}")
        assert result.error is not None and result.error.type == "ResultNotJSON", result

    def test_an_unknown_language_is_refused(self) -> None:
        """A language the runtime does not run is refused, naming the ones it runs."""
        try:
            self.execute("IDENTIFICATION DIVISION.", language="cobol")
        except InputInvalid as exc:
            assert "cobol" in exc.message and self.languages[0] in exc.message
            return
        raise AssertionError("a COBOL request was accepted")

    # -- limits ---------------------------------------------------------------------------

    def test_a_cpu_loop_is_stopped(self) -> None:
        """An endless loop stops at the CPU (or wall-clock) limit."""
        result = self.execute("while True:\n    pass\n", cpu_s=1, timeout_s=5)
        assert result.limit in {"cpu", "timeout"}, result
        assert not result.ok

    def test_a_memory_balloon_is_stopped(self) -> None:
        """Code that keeps allocating stops at the memory limit."""
        result = self.execute(
            "blocks = []\nwhile True:\n    blocks.append(bytearray(8 * 1024 * 1024))\n", memory_mb=128
        )
        assert result.limit == "memory", result
        assert not result.ok

    def test_a_fork_bomb_is_contained(self) -> None:
        """A fork bomb fails within its limits, and the next run works."""
        self._skip_if_remote("containing a fork bomb")
        code = (
            "import os, subprocess, sys\n"
            "while True:\n"
            "    if hasattr(os, 'fork'):\n"
            "        os.fork()\n"
            "    else:\n"
            "        subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        )
        result = self.execute(code, timeout_s=10, max_processes=16)
        assert not result.ok, result
        after = self.execute("print('still here')")
        assert after.ok and "still here" in after.stdout, after

    def test_huge_output_is_capped(self) -> None:
        """Endless printing stops at the output limit; what was kept is no longer than the limit."""
        result = self.execute("while True:\n    print('x' * 1000)\n", output_bytes=64 * 1024, timeout_s=20)
        assert result.limit == "output", result
        assert result.stdout_truncated
        assert len(result.stdout.encode()) <= 64 * 1024

    def test_sleeping_past_the_timeout_is_stopped(self) -> None:
        """Code that sleeps past the wall-clock limit is stopped there."""
        result = self.execute("import time\ntime.sleep(120)\nprint('woke')", timeout_s=1)
        assert result.limit == "timeout", result
        assert "woke" not in result.stdout

    # -- what code must not reach ---------------------------------------------------------

    def test_host_files_are_out_of_reach(self) -> None:
        """$SYNTHRAL_HOME, its database and key file, and /etc/shadow cannot be read."""
        self._skip_if_remote("keeping this machine's files out of reach")
        home = Path(os.environ.get("SYNTHRAL_HOME") or tempfile.mkdtemp(prefix="synthral-home-"))
        os.environ.setdefault("SYNTHRAL_HOME", str(home))
        home.mkdir(parents=True, exist_ok=True)
        for name in ("synthral.db", "secret.key"):
            target = home / name
            if not target.exists():
                target.write_text(CANARY)
        code = (
            "seen = {}\n"
            "for path in inputs['paths']:\n"
            "    try:\n"
            "        with open(path, 'rb') as handle:\n"
            "            seen[path] = 'read: ' + handle.read(200).decode('latin-1')\n"
            "    except Exception as exc:\n"
            "        seen[path] = type(exc).__name__\n"
            "result = seen\n"
        )
        paths = [str(home / "synthral.db"), str(home / "secret.key"), "/etc/shadow"]
        result = self.execute(code, inputs={"paths": paths})
        assert result.ok, result
        seen = cast(dict[str, str], result.result)
        assert CANARY not in str(seen), result
        assert not [path for path, what in seen.items() if what.startswith("read: ")], f"the code read files: {seen}"

    def test_the_host_environment_is_out_of_reach(self) -> None:
        """The host's environment variables do not reach the code."""
        self._skip_if_remote("keeping this machine's environment out of reach")
        os.environ["SYNTHRAL_CONFORMANCE_CANARY"] = CANARY
        try:
            result = self.execute("import os\nresult = dict(os.environ)")
        finally:
            del os.environ["SYNTHRAL_CONFORMANCE_CANARY"]
        assert result.ok, result
        assert CANARY not in str(result.result) and "SYNTHRAL_CONFORMANCE_CANARY" not in str(result.result)

    def test_other_runs_scratch_is_out_of_reach(self) -> None:
        """A run cannot find a file another run, running at the same time, keeps in its scratch folder."""
        self._skip_if_remote("keeping runs apart on this machine")
        writer = "import os, time\nopen('secret.txt', 'w').write(inputs['canary'])\nresult = os.getcwd()\ntime.sleep(4)"
        finder = (
            "import os, time\n"
            "time.sleep(1.5)\n"
            "found = []\n"
            "skip = ('/proc', '/sys', '/dev', '/usr', '/lib', '/lib64', '/bin', '/sbin')\n"
            "for top, dirs, files in os.walk('/'):\n"
            "    dirs[:] = [d for d in dirs if os.path.join(top, d) not in skip]\n"
            "    for name in files:\n"
            "        if name == 'secret.txt':\n"
            "            try:\n"
            "                found.append(open(os.path.join(top, name)).read())\n"
            "            except OSError:\n"
            "                pass\n"
            "result = found\n"
        )
        results: dict[str, CodeResult] = {}

        def run(name: str, code: str) -> None:
            results[name] = self.execute(code, inputs={"canary": CANARY}, timeout_s=60)

        threads = [threading.Thread(target=run, args=item) for item in (("writer", writer), ("finder", finder))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results["writer"].ok, results["writer"]
        assert results["finder"].ok, results["finder"]
        assert CANARY not in str(results["finder"].result), results["finder"]
        again = self.execute("import os\nresult = os.path.exists('secret.txt')")
        assert again.result is False, "a later run found the file an earlier run left in its scratch folder"

    def test_the_network_is_out_of_reach(self) -> None:
        """Code cannot open a connection to a server on this machine."""
        self._skip_if_remote("keeping the sandbox off this machine's network")
        code = (
            "import socket\n"
            "try:\n"
            "    socket.create_connection(('127.0.0.1', inputs['port']), timeout=3).close()\n"
            "    result = 'connected'\n"
            "except Exception as exc:\n"
            "    result = type(exc).__name__\n"
        )
        with canary_server() as port:
            result = self.execute(code, inputs={"port": port})
        assert result.result != "connected", result

    def test_allowed_hosts_are_reachable_and_others_are_not(self) -> None:
        """With ``network`` set, listed hosts answer through the proxy and others do not (or it is refused)."""
        self._skip_if_remote("reaching this machine's servers")
        code = (
            "import urllib.request\n"
            "answers = []\n"
            "for url in inputs['urls']:\n"
            "    try:\n"
            "        answers.append(urllib.request.urlopen(url, timeout=5).read().decode())\n"
            "    except Exception as exc:\n"
            "        answers.append(type(exc).__name__)\n"
            "result = answers\n"
        )
        with canary_server() as port, canary_server() as other:
            urls = [f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{other}/"]
            if not self.network:
                try:
                    self.execute(code, inputs={"urls": urls}, network=[f"127.0.0.1:{port}"])
                except InputInvalid as exc:
                    assert "network" in exc.message
                    return
                raise AssertionError("a runtime without network accepted a request for network access")
            result = self.execute(code, inputs={"urls": urls}, network=[f"127.0.0.1:{port}"])
        assert result.ok, result
        answers = cast(list[str], result.result)
        assert answers[0] == CANARY, result
        assert answers[1] != CANARY, result

    # -- JavaScript -----------------------------------------------------------------------

    def _javascript(self) -> None:
        if "javascript" not in self.languages:
            raise unittest.SkipTest("this runtime runs no JavaScript")

    def test_javascript_returns_a_json_result_and_prints(self) -> None:
        """JavaScript code returns its result and its console output is captured."""
        self._javascript()
        code = "console.log('hello'); console.error('warn');\nreturn {sum: inputs.a + inputs.b};"
        result = self.execute(code, language="javascript", inputs={"a": 1, "b": 2})
        assert result.ok, result
        assert result.result == {"sum": 3}
        assert "hello" in result.stdout and "warn" in result.stderr

    def test_javascript_errors_come_back_with_the_users_stack(self) -> None:
        """A JavaScript exception is an error with its type, message and line in the user's code."""
        self._javascript()
        code = "function boom() {\n  throw new TypeError('bad value');\n}\nboom();"
        result = self.execute(code, language="javascript")
        assert result.error is not None and result.error.type == "TypeError", result
        assert result.error.message == "bad value"
        assert result.error.line == 2
        assert "code.js:2" in result.error.traceback and "bootstrap" not in result.error.traceback

    def test_javascript_sees_no_host_environment(self) -> None:
        """The host's environment variables do not reach JavaScript code."""
        self._javascript()
        self._skip_if_remote("keeping this machine's environment out of reach")
        os.environ["SYNTHRAL_CONFORMANCE_CANARY"] = CANARY
        try:
            result = self.execute("return process.env;", language="javascript")
        finally:
            del os.environ["SYNTHRAL_CONFORMANCE_CANARY"]
        assert result.ok, result
        assert CANARY not in str(result.result)

    def test_javascript_cpu_loop_is_stopped(self) -> None:
        """An endless JavaScript loop stops at the CPU (or wall-clock) limit."""
        self._javascript()
        result = self.execute("while (true) {}", language="javascript", cpu_s=1, timeout_s=5)
        assert result.limit in {"cpu", "timeout"}, result
