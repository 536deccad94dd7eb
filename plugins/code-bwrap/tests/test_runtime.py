"""What bubblewrap adds beyond the conformance suite: seccomp, identities, the read-only system, the proxy."""

from __future__ import annotations

import os
import sys

import pytest

from synthral_sdk import CodeResult
from synthral_sdk._code_conformance import CANARY, canary_server
from synthral_sdk.errors import ConfigurationError, InputInvalid
from synthral_sdk.testing import call, load_plugin


def _run(payload: dict[str, object], config: dict[str, object] | None = None) -> CodeResult:
    capability = load_plugin("synthral-code-bwrap")["bwrap"].capability
    return CodeResult.model_validate(call(capability, {"language": "python", **payload}, config=config, timeout=120))


SYSCALL = (
    "import ctypes, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "def attempt(number, *args):\n"
    "    value = libc.syscall(number, *args)\n"
    "    return os.strerror(ctypes.get_errno()) if value == -1 else 'allowed'\n"
)


def test_escape_system_calls_are_refused_by_seccomp() -> None:
    code = SYSCALL + (
        "result = {\n"
        "    'unshare': attempt(272, 0x10000000),\n"  # unshare(CLONE_NEWUSER)
        "    'ptrace': attempt(101, 16, 1, 0, 0),\n"  # ptrace(PTRACE_ATTACH, 1)
        "    'io_uring_setup': attempt(425, 8, 0),\n"
        "    'keyctl': attempt(250, 0, 0),\n"
        "    'getpid': 'allowed' if os.getpid() > 0 else 'refused',\n"
        "}\n"
    )
    result = _run({"code": code})
    assert result.ok, result
    assert result.result == {
        "unshare": "Operation not permitted",
        "ptrace": "Operation not permitted",
        "io_uring_setup": "Operation not permitted",
        "keyctl": "Operation not permitted",
        "getpid": "allowed",
    }


@pytest.mark.skipif(os.geteuid() != 0, reason="runs get their own user only when the plugin runs as root")
def test_each_run_has_a_user_of_its_own() -> None:
    code = "import os\nresult = os.getuid()"
    first, second = _run({"code": code}), _run({"code": code})
    assert isinstance(first.result, int)
    assert first.result >= 200_000
    assert second.result >= 200_000


def test_the_system_is_read_only_and_the_sandbox_is_its_own_world() -> None:
    code = (
        "import os, socket\n"
        "try:\n"
        "    open('/usr/planted', 'w')\n"
        "    wrote = True\n"
        "except OSError:\n"
        "    wrote = False\n"
        "result = {'wrote': wrote, 'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit())[:3],\n"
        "          'hostname': socket.gethostname(), 'top': sorted(os.listdir('/'))}\n"
    )
    result = _run({"code": code})
    assert result.ok, result
    seen = result.result
    assert isinstance(seen, dict)
    assert seen["wrote"] is False
    assert seen["pids"][0] == 1
    assert seen["hostname"] == "sandbox"
    assert "root" not in seen["top"]
    assert "home" not in seen["top"]
    assert "etc" in seen["top"]


def test_a_listed_name_that_resolves_to_this_machine_is_refused() -> None:
    code = (
        "import urllib.request, urllib.error\n"
        "try:\n"
        "    urllib.request.urlopen(inputs['url'], timeout=5).read()\n"
        "    result = 'read'\n"
        "except urllib.error.HTTPError as exc:\n"
        "    result = exc.code\n"
    )
    with canary_server() as port:
        result = _run({"code": code, "inputs": {"url": f"http://localhost:{port}/"}, "network": [f"localhost:{port}"]})
    assert result.result == 403, result
    assert CANARY not in result.stdout


def test_a_host_entry_that_is_not_a_host_is_refused() -> None:
    with pytest.raises(InputInvalid, match=r"network\[0\]"):
        _run({"code": "", "network": ["http://example.com/path"]})


def test_cpu_used_by_child_processes_counts() -> None:
    code = "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'while True: pass'])\n"
    result = _run({"code": code, "cpu_s": 1, "timeout_s": 20})
    assert result.limit == "cpu", result


def test_javascript_packages_are_refused() -> None:
    with pytest.raises(InputInvalid, match="Python packages"):
        _run({"language": "javascript", "code": "return 1", "packages": ["left-pad"]})


def test_an_interpreter_outside_usr_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not under /usr"):
        _run({"code": "print(1)"}, config={"python": sys.executable})


def test_a_missing_bwrap_names_the_package() -> None:
    with pytest.raises(ConfigurationError, match="bubblewrap"):
        _run({"code": "print(1)"}, config={"bwrap": "/nonexistent/bwrap"})
