"""What the E2B plugin does beyond the conformance suite: keys, network requests, cleanup, files."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import StandIn

from synthral_sdk import BlobStore, CodeResult
from synthral_sdk.errors import ConfigurationError, InputInvalid, NonRetryableError
from synthral_sdk.testing import call, load_plugin


def _run(
    e2b: StandIn, payload: dict[str, object], *, key: str | None = "", blobs: BlobStore | None = None
) -> CodeResult:
    capability = load_plugin("synthral-code-e2b")["e2b"].capability
    secrets = {} if key is None else {"api_key": key or e2b.api_key}
    output = call(capability, {"language": "python", **payload}, config=e2b.config(), secrets=secrets, blobs=blobs)
    return CodeResult.model_validate(output)


def test_without_a_key_the_run_is_refused_naming_the_secret(e2b: StandIn) -> None:
    with pytest.raises(ConfigurationError, match="grant the secret 'api_key'"):
        _run(e2b, {"code": "print(1)"}, key=None)


def test_a_wrong_key_is_not_retried(e2b: StandIn) -> None:
    with pytest.raises(NonRetryableError, match="E2B refused the API key"):
        _run(e2b, {"code": "print(1)"}, key="e2b_wrong")


def test_each_run_gets_a_fresh_sandbox_that_is_deleted_after(e2b: StandIn) -> None:
    before = len(e2b.deleted)
    first = _run(e2b, {"code": "import os\nresult = os.path.exists('left.txt')\nopen('left.txt', 'w')"})
    second = _run(e2b, {"code": "import os\nresult = os.path.exists('left.txt')"})
    assert first.result is False
    assert second.result is False
    assert len(e2b.deleted) == before + 2
    assert not e2b.boxes


def test_no_network_is_asked_of_e2b_unless_hosts_are_listed(e2b: StandIn) -> None:
    _run(e2b, {"code": "print(1)"})
    assert e2b.created[-1]["allow_internet_access"] is False
    _run(e2b, {"code": "print(1)", "network": ["api.example.com", "*.github.com:443"]})
    assert e2b.created[-1]["network"] == {"allowOut": ["*.github.com", "api.example.com"], "denyOut": ["0.0.0.0/0"]}


def test_files_go_in_and_the_files_the_code_writes_come_back(e2b: StandIn, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    given = blobs.put(b"a,b\n1,2\n", name="table.csv")
    code = (
        "rows = open('table.csv').read().splitlines()\nopen('count.txt', 'w').write(str(len(rows)))\nresult = len(rows)"
    )
    result = _run(e2b, {"code": code, "files": [given.to_json()]}, blobs=blobs)
    assert result.ok, result
    assert [ref.name for ref in result.files] == ["count.txt"]
    assert blobs.get(result.files[0]) == b"2"


def test_packages_are_refused_pointing_at_templates(e2b: StandIn) -> None:
    with pytest.raises(InputInvalid, match="template"):
        _run(e2b, {"code": "import humanize", "packages": ["humanize"]})


def test_the_cpu_seconds_are_measured_inside_the_sandbox(e2b: StandIn) -> None:
    result = _run(e2b, {"code": "n = 0\nfor i in range(3_000_000):\n    n += i\nresult = n"})
    assert result.ok, result
    assert result.cpu_s > 0
