"""The pieces code runtimes share: bootstraps, run folders, outcomes, the allow-list proxy, package specs."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from synthral_sdk import BlobStore, CodeRequest
from synthral_sdk._code_conformance import CANARY, canary_server
from synthral_sdk._sandbox_packages import _checked
from synthral_sdk.errors import InputInvalid
from synthral_sdk.sandbox import (
    AllowListProxy,
    CappedOutput,
    HostRule,
    Outcome,
    RunFolder,
    check_language,
    parse_rules,
    refuse_network,
)


def _bootstrap(folder: RunFolder, language: str, code: str, inputs: dict[str, object]) -> Outcome | None:
    request = CodeRequest(language=language, code=code, inputs=inputs)  # type: ignore[arg-type]
    folder.write_request(request, cwd=str(folder.scratch))
    bootstrap = folder.write_bootstrap(language)
    interpreter = [sys.executable, "-I"] if language == "python" else [shutil.which("node") or "node"]
    subprocess.run(
        [*interpreter, str(bootstrap), str(folder.request_path), str(folder.outcome_path)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return Outcome.read(folder.outcome_path, 1 << 20)


def test_the_python_bootstrap_returns_the_result_and_only_the_users_frames(tmp_path: Path) -> None:
    with RunFolder(tmp_path) as folder:
        ok = _bootstrap(folder, "python", "result = {'twice': inputs['n'] * 2}", {"n": 4})
        assert ok is not None
        assert ok.result == {"twice": 8}
        failed = _bootstrap(folder, "python", "import json\njson.loads('{')", {})
    assert failed is not None
    assert failed.error is not None
    assert failed.error.type == "JSONDecodeError"
    assert failed.error.line == 2
    assert failed.error.traceback.startswith('Traceback (most recent call last):\n  File "<code>", line 2')
    assert "_synthral_run" not in failed.error.traceback


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_javascript_bootstrap_returns_what_the_code_returns(tmp_path: Path) -> None:
    with RunFolder(tmp_path) as folder:
        outcome = _bootstrap(folder, "javascript", "return inputs.words.map((w) => w.length);", {"words": ["ab", "c"]})
    assert outcome is not None
    assert outcome.result == [2, 1]


def test_a_run_folder_places_files_collects_new_ones_and_is_removed(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    folder = RunFolder(tmp_path)
    folder.place_files([blobs.put(b"in", name="given.txt")], blobs)
    (folder.scratch / "made.txt").write_text("out")
    (folder.scratch / "given.txt").write_text("in")  # unchanged: not collected
    found = folder.collect_files(blobs)
    assert [ref.name for ref in found] == ["made.txt"]
    folder.remove()
    assert not folder.path.exists()


def test_capped_output_keeps_exactly_the_limit() -> None:
    output = CappedOutput(10)
    assert output.feed(b"12345")
    assert not output.feed(b"678901234")
    assert output.text() == "1234567890"
    assert output.exceeded


def test_languages_are_normalised_and_unknown_ones_refused_naming_the_known() -> None:
    request = CodeRequest(language="JS", code="return 1")
    assert check_language(request, "x", ("python", "javascript")) == "javascript"
    with pytest.raises(InputInvalid, match="it runs python"):
        check_language(CodeRequest(language="ruby", code=""), "x", ("python",))


def test_a_runtime_without_network_refuses_a_network_list() -> None:
    with pytest.raises(InputInvalid, match="code-bwrap"):
        refuse_network(CodeRequest(language="python", code="", network=["example.com"]), "code-wasi")


def test_host_rules_match_names_ports_and_subdomains() -> None:
    exact, port, wild = parse_rules(["API.example.com", "db.example.com:5432", "*.github.com"])
    assert exact == HostRule("api.example.com", None)
    assert exact.matches("api.example.com", 443)
    assert not exact.matches("api.example.com", 22)
    assert port.matches("db.example.com", 5432)
    assert not port.matches("db.example.com", 443)
    assert wild.matches("api.github.com", 443)
    assert not wild.matches("github.com", 443)
    assert not wild.matches("evilgithub.com", 443)
    with pytest.raises(InputInvalid, match=r"network\[0\]"):
        parse_rules(["https://example.com/path"])


@pytest.mark.parametrize("spec", ["--index-url=http://x", "pkg @ https://x/p.whl", "pkg; sys_platform == 'linux'", ""])
def test_package_specs_with_options_urls_or_markers_are_refused(spec: str) -> None:
    with pytest.raises(InputInvalid, match=r"packages\[0\]"):
        _checked([spec])


def test_package_specs_with_versions_and_extras_are_kept() -> None:
    assert _checked(["humanize==4.9.0", "requests[socks]>=2.31,<3", "humanize==4.9.0"]) == [
        "humanize==4.9.0",
        "requests[socks]>=2.31,<3",
    ]


def _through(proxy_socket: Path, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(str(proxy_socket))
        client.sendall(request)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        return answer


def test_the_proxy_forwards_listed_hosts_and_refuses_others(tmp_path: Path) -> None:
    with canary_server() as port, canary_server() as other:
        rules = parse_rules([f"127.0.0.1:{port}", f"localhost:{other}"])
        with AllowListProxy(tmp_path / "proxy.sock", rules) as proxy:
            listed = _through(proxy.path, f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            unlisted = _through(proxy.path, f"GET http://127.0.0.1:{other}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            internal = _through(proxy.path, f"CONNECT localhost:{other} HTTP/1.1\r\n\r\n".encode())
    assert listed.startswith(b"HTTP/1.0 200") or listed.startswith(b"HTTP/1.1 200")
    assert CANARY.encode() in listed
    # One request per connection, and the client is told so: a kept connection would be found closed.
    head = listed.split(b"\r\n\r\n", 1)[0].lower().split(b"\r\n")
    assert b"connection: close" in head and not any(line.startswith(b"keep-alive:") for line in head)
    assert unlisted.startswith(b"HTTP/1.1 403")
    assert b"not in this sandbox's network list" in unlisted
    assert internal.startswith(b"HTTP/1.1 403")
    assert b"internal address" in internal


class _Counts(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = str(len(self.rfile.read(int(self.headers["Content-Length"])))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


def test_a_request_body_longer_than_its_first_read_reaches_the_server_whole(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    body = b"x" * 300_000
    try:
        with AllowListProxy(tmp_path / "proxy.sock", parse_rules([f"127.0.0.1:{port}"])) as proxy:
            head = f"POST http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
            answer = _through(proxy.path, head.encode() + body)
    finally:
        server.shutdown()
        server.server_close()
    assert answer.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")) and answer.endswith(b"300000")


def test_an_outcome_larger_than_allowed_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "outcome.json"
    path.write_text(json.dumps({"exit_code": 0, "result": "x" * 100}))
    with pytest.raises(ValueError, match="more than the 50 allowed"):
        Outcome.read(path, 50)
    assert Outcome.read(tmp_path / "missing.json", 50) is None
