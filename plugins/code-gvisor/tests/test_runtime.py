"""What gVisor adds beyond the conformance suite: the user-space kernel, the OCI bundle, clear errors."""

from __future__ import annotations

import pytest

from synthral_sdk import CodeResult
from synthral_sdk.errors import ConfigurationError
from synthral_sdk.testing import call, load_plugin


def _run(payload: dict[str, object], config: dict[str, object] | None = None) -> CodeResult:
    capability = load_plugin("synthral-code-gvisor")["gvisor"].capability
    return CodeResult.model_validate(call(capability, {"language": "python", **payload}, config=config, timeout=120))


def test_the_code_runs_on_gvisors_kernel_not_the_hosts() -> None:
    code = "import os\nresult = {'uid': os.getuid(), 'top': sorted(os.listdir('/')), 'kernel': os.uname().version}"
    result = _run({"code": code})
    assert result.ok, result
    seen = result.result
    assert isinstance(seen, dict)
    assert seen["uid"] >= 300_000
    assert "root" not in seen["top"]
    assert "home" not in seen["top"]
    with open("/proc/version") as handle:
        assert seen["kernel"] not in handle.read()


def test_the_system_is_read_only() -> None:
    code = (
        "try:\n    open('/usr/planted', 'w')\n    result = 'wrote'\n"
        "except OSError as exc:\n    result = type(exc).__name__"
    )
    result = _run({"code": code})
    assert result.result in {"PermissionError", "OSError"}, result


def test_a_missing_runsc_names_the_debian_package() -> None:
    with pytest.raises(ConfigurationError, match="Debian package 'runsc'"):
        _run({"code": "print(1)"}, config={"runsc": "/nonexistent/runsc"})
