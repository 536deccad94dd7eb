"""A real ``synthral serve`` for the web app's end-to-end tests (Playwright starts it).

``python -m tests.support.e2e_server [--db sqlite|postgres]`` makes a throwaway home with
the ``http`` and ``llm-openai-compatible`` plugins installed, an owner, an editor and a
viewer in workspace ``acme``, a small site for the workflows to fetch, a plugin wheel to
upload, and the local OpenAI-compatible stand-in as the chat copilot's LLM (a test scripts
its answers by posting them to the site's ``/llm-script``), then serves. It prints one
JSON line (the URLs, users and paths) and runs until its standard input closes or it gets
SIGTERM; then it stops the server (and PostgreSQL) and removes the home.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from synthral.plugins.uv import uv_binary
from synthral_sdk.testing_llm import OpenAIStandIn, Reply
from tests.support.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-staple"
USERS = (("owner@example.com", "owner"), ("editor@example.com", "editor"), ("viewer@example.com", "viewer"))
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000010000000100806000000"
    "1ff3ff610000001c49444154789c63fccf40012a18b56034c06850234089"
    "1a00f7e10ff1b5f2b0f30000000049454e44ae426082"
)


LLM = OpenAIStandIn()
PRICES = '[models."gpt-test"]\ninput_per_million = 1000.0\noutput_per_million = 2000.0\n'


class _Site(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        """``/llm-script``: the copilot LLM's next answers, ``[{text, tool_calls: [[name, args]], pieces}]``."""
        if self.path != "/llm-script":
            self.send_error(404)
            return
        replies = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        LLM.script(
            *(
                Reply(
                    text=reply.get("text", ""),
                    tool_calls=[(name, args) for name, args in reply.get("tool_calls", [])],
                    pieces=int(reply.get("pieces", 1)),
                )
                for reply in replies
            )
        )
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        if self.path.startswith("/item"):
            price = 42 if "cheap" not in self.path else 3
            body = json.dumps({"title": "A lamp", "price": price, "tags": ["home", "light"]}).encode()
            kind = "application/json"
        elif self.path.startswith("/scan.png"):
            body, kind = PNG, "image/png"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _synthral(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "synthral", *args], env=env, check=True, capture_output=True, cwd=ROOT)


def _wait_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until the server answers at all (in local mode without the launch token that is a 401)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"synthral serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/api/v1/health", timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("synthral serve did not answer in time")


def _follow(stream: Any, found: list[str]) -> None:
    """Pass the server's messages on, noting the link with a launch token that local mode prints."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace")
        sys.stderr.write(line)
        match = re.search(r"https?://\S+[?&]token=[\w.~-]+", line)
        if match:
            found.append(match.group(0))


def _serve_local(env: dict[str, str], port: int, url: str) -> None:
    """``serve --local``: no users; the link to open is the one the server prints (with its token)."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "synthral", "serve", "--local", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    found: list[str] = []
    threading.Thread(target=_follow, args=(serve.stderr, found), daemon=True).start()
    try:
        _wait_up(url, serve)
        # The link is printed once the whole server has started: the API answers before its
        # worker and scheduler have loaded.
        deadline = time.monotonic() + 60
        while not found and time.monotonic() < deadline and serve.poll() is None:
            time.sleep(0.05)
        print(json.dumps({"url": url, "open": found[0] if found else f"{url}/", "token": bool(found)}), flush=True)
        _wait_for_stop()
    finally:
        serve.terminate()
        serve.wait(20)


def _wait_for_stop() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--local", action="store_true", help="serve --local (no sign-in)")
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="synthral-e2e-"))
    postgres = PostgresServer.start() if options.db == "postgres" else None
    env = {**os.environ, "SYNTHRAL_HOME": str(home), "SYNTHRAL_PASSWORD": PASSWORD}
    # The small site below listens on loopback: allowed as an operator allows an internal service.
    env.setdefault("SYNTHRAL_EGRESS_ALLOW", "127.0.0.1,::1,localhost")
    env.pop("SYNTHRAL_DATABASE_URL", None)
    if postgres is not None:
        env["SYNTHRAL_DATABASE_URL"] = postgres.url
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env["SYNTHRAL_PUBLIC_URL"] = url
    # The stand-in sites the test workflows fetch listen on this machine; a server refuses
    # loopback to plugins unless its operator allows it.
    env["SYNTHRAL_EGRESS_ALLOW"] = "127.0.0.0/8"
    LLM.start()
    llm = {"provider": "llm-openai-compatible/openai", "model": "gpt-test", "config": {"base_url": LLM.url}}
    env["SYNTHRAL_COPILOT_LLM"] = json.dumps(llm)
    env["SYNTHRAL_COPILOT_CODE_RUNTIME"] = "code-bwrap/bwrap"
    (home / "llm-prices.toml").write_text(PRICES)
    site = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    site_url = f"http://127.0.0.1:{site.server_address[1]}"
    serve: subprocess.Popen[bytes] | None = None
    try:
        if options.local:
            _serve_local(env, port, url)
            return
        for plugin in ("http", "llm-openai-compatible", "code-bwrap"):
            _synthral(env, "plugin", "install", str(ROOT / "plugins" / plugin), "--grant", "all")
        for email, role in USERS:
            _synthral(
                env,
                "user",
                "create",
                email,
                "--workspace",
                "acme",
                "--role",
                role,
                "--password-env",
                "SYNTHRAL_PASSWORD",
            )
        wheels = home / "wheels"
        noop = ROOT / "tests" / "fixtures" / "plugins" / "noop"
        subprocess.run(
            [uv_binary(), "build", "--wheel", "--out-dir", str(wheels), str(noop)],
            check=True,
            capture_output=True,
        )
        command = [sys.executable, "-m", "synthral", "serve", "--port", str(port)]
        serve = subprocess.Popen(command, env=env, cwd=ROOT)
        _wait_up(url, serve)
        info = {
            "url": url,
            "site": site_url,
            "password": PASSWORD,
            "users": dict(USERS),
            "wheel": str(next(wheels.glob("*.whl"))),
            "db": options.db,
            "home": str(home),
        }
        print(json.dumps(info), flush=True)
        _wait_for_stop()
    finally:
        if serve is not None:
            serve.terminate()
            try:
                serve.wait(20)
            except subprocess.TimeoutExpired:
                serve.kill()
        site.shutdown()
        LLM.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
