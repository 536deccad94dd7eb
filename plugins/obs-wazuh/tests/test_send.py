"""Security events reach a syslog listener as RFC 5424 lines with JSON, over UDP and TCP, via the runner."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator

import pytest
from conftest import SyslogListener

from synthral_sdk.errors import ConfigInvalid, EgressDenied, InputInvalid, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import RunnerClient
from synthral_sdk.types import JSONObject

HEADER = re.compile(rb"^<(\d+)>1 (\S+) (\S+) (\S+) - (\S+) - (\{.*\})$")
EVENTS = [
    {"action": "auth.login_failed", "outcome": "failure", "ip": "203.0.113.7", "target_id": "u1",
     "details": {"email": "ada@example.com"}},
    {"action": "member.role_change", "actor_id": "owner-1", "target_id": "u2", "details": {"role": "owner"}},
]  # fmt: skip
SERVER: JSONObject = {"network": NetworkPolicy.server().to_wire()}


@pytest.fixture(scope="module")
def runner() -> Iterator[RunnerClient]:
    with RunnerClient("synthral-obs-wazuh") as client:
        yield client


def _parse(message: bytes) -> tuple[int, str, dict[str, object]]:
    match = HEADER.match(message)
    assert match, message
    return int(match.group(1)), match.group(5).decode(), json.loads(match.group(6))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_each_event_is_one_syslog_message_with_json_the_siem_decodes(
    runner: RunnerClient, siem: SyslogListener, transport: str
) -> None:
    config = {"host": "127.0.0.1", "port": siem.port, "transport": transport}
    output = runner.invoke("send", {"events": EVENTS}, config=config)
    assert output == {"sent": 2}
    first, second = (_parse(m) for m in siem.wait(2))
    assert first[0] == 10 * 8 + 4 and first[1] == "auth.login_failed"  # authpriv.warning for a failure
    assert second[0] == 10 * 8 + 5  # authpriv.notice
    event = first[2]["synthral"]
    assert isinstance(event, dict)
    assert (event["action"], event["outcome"], event["ip"]) == ("auth.login_failed", "failure", "203.0.113.7")
    assert str(event["at"]).endswith("Z")


def test_an_unreachable_siem_is_a_retryable_error_naming_it(runner: RunnerClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RetryableError) as error:
        runner.invoke("send", {"events": EVENTS[:1]}, config={"host": "127.0.0.1", "port": port, "transport": "tcp"})
    assert f"127.0.0.1:{port}" in str(error.value) and "listens" in str(error.value)


def test_bad_config_and_input_are_named(runner: RunnerClient) -> None:
    with pytest.raises(ConfigInvalid) as config:
        runner.invoke("send", {"events": EVENTS}, config={"host": "127.0.0.1", "transport": "carrier-pigeon"})
    assert "transport" in str(config.value)
    with pytest.raises(InputInvalid) as empty:
        runner.invoke("send", {"events": []}, config={"host": "127.0.0.1"})
    assert "events" in str(empty.value)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_the_siem_is_reached_only_where_the_network_policy_allows(
    runner: RunnerClient, siem: SyslogListener, transport: str
) -> None:
    # A server's policy refuses this machine: a clear refusal naming the fix, not an error to retry.
    for host in ("127.0.0.1", "localhost"):
        config = {"host": host, "port": siem.port, "transport": transport}
        with pytest.raises(EgressDenied, match=r"loopback.*SYNTHRAL_EGRESS_ALLOW"):
            runner.invoke("send", {"events": EVENTS}, config=config, context=SERVER)
    # A private address is refused before anything is sent or connected to (no timeout).
    started = time.monotonic()
    with pytest.raises(EgressDenied, match="private"):
        runner.invoke(
            "send", {"events": EVENTS}, config={"host": "10.0.0.1", "port": 514, "transport": transport},
            context=SERVER,
        )  # fmt: skip
    assert time.monotonic() - started < 3
    assert siem.wait(1, timeout=0.5) == []
    # What the operator allows is reached; so is this machine by name under the local policy tests run in.
    allowed: JSONObject = {"network": NetworkPolicy.server(allow=["127.0.0.1"]).to_wire()}
    config = {"host": "127.0.0.1", "port": siem.port, "transport": transport}
    assert runner.invoke("send", {"events": EVENTS[:1]}, config=config, context=allowed) == {"sent": 1}
    by_name = {"host": "localhost", "port": siem.port, "transport": transport}
    assert runner.invoke("send", {"events": EVENTS[1:]}, config=by_name) == {"sent": 1}
    assert [_parse(m)[1] for m in siem.wait(2)] == ["auth.login_failed", "member.role_change"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_only_a_granted_host_is_reached(runner: RunnerClient, siem: SyslogListener, transport: str) -> None:
    granted: JSONObject = {"network": NetworkPolicy(allow_loopback=True, hosts=("siem.example.com:514",)).to_wire()}
    config = {"host": "127.0.0.1", "port": siem.port, "transport": transport}
    with pytest.raises(EgressDenied, match=r"granted network access to siem\.example\.com:514 only"):
        runner.invoke("send", {"events": EVENTS}, config=config, context=granted)
    assert siem.wait(1, timeout=0.5) == []
