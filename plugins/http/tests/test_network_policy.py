"""The node makes its requests under the call's network policy: the one SSRF policy of every plugin."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from support import Server
from synthral_http import HttpRequest

from synthral_sdk import BlobStore
from synthral_sdk.errors import EgressDenied
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import RunnerClient, call

NODE = HttpRequest()
SERVER = NetworkPolicy.server()


def test_a_server_refuses_this_machine_by_address_and_by_name(server: Server, blobs: BlobStore) -> None:
    for url in (server.url("/json"), server.url("/json").replace("127.0.0.1", "localhost")):
        with pytest.raises(EgressDenied) as denied:
            call(NODE, {"url": url}, blobs=blobs, network=SERVER)
        assert "loopback" in denied.value.message and "SYNTHRAL_EGRESS_ALLOW" in denied.value.message


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://[::1]:1/", "http://10.0.0.1/", "http://[fd00:ec2::254]/"],
)
def test_a_redirect_to_a_refused_address_is_refused(server: Server, blobs: BlobStore, target: str) -> None:
    allowed = NetworkPolicy.server(["127.0.0.1"])  # the operator allowed the test server's address
    url = server.url(f"/redirect-to?url={quote(target, safe='')}")
    assert call(NODE, {"url": server.url("/json")}, blobs=blobs, network=allowed)["status"] == 200
    with pytest.raises(EgressDenied):
        call(NODE, {"url": url}, blobs=blobs, network=allowed)
    unfollowed = call(NODE, {"url": url}, config={"follow_redirects": False}, blobs=blobs, network=allowed)
    assert unfollowed["status"] == 302  # the redirect itself may be read; only following it is refused


def test_local_mode_reaches_this_machine(server: Server, blobs: BlobStore) -> None:
    assert call(NODE, {"url": server.url("/json")}, blobs=blobs, network=NetworkPolicy.local())["status"] == 200


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerClient]:
    with RunnerClient("synthral-http", blob_root=tmp_path_factory.mktemp("policy-blobs")) as client:
        yield client


def test_the_policy_travels_in_the_call_context_through_the_runner(runner: RunnerClient, server: Server) -> None:
    with pytest.raises(EgressDenied, match="loopback"):
        runner.invoke("request", {"url": server.url("/json")}, context={"network": SERVER.to_wire()})
    allowed = NetworkPolicy.server(["127.0.0.0/8"]).to_wire()
    assert runner.invoke("request", {"url": server.url("/json")}, context={"network": allowed})["status"] == 200
