"""A local stand-in for the part of Infisical's API a secret lookup uses, on 127.0.0.1.

Universal Auth login (``POST /api/v1/auth/universal-auth/login``) and reading one secret
(``GET /api/v3/secrets/raw/{name}``), with Infisical's JSON shapes, statuses and error
bodies; enough for the ``secrets-infisical`` plugin's official SDK. The plugin's own tests
carry a fuller stand-in (writes, deletes, failure injection).
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["InfisicalStandIn", "serve_infisical"]

_LOGIN = "/api/v1/auth/universal-auth/login"
_SECRET = "/api/v3/secrets/raw/"
_STAMP = "2025-01-01T00:00:00.000Z"


@dataclass
class InfisicalStandIn:
    """A running stand-in: its address, and what it holds and saw."""

    url: str = ""
    identities: dict[str, str] = field(default_factory=dict)  # client id -> client secret
    folders: set[tuple[str, str, str]] = field(default_factory=set)  # (project, environment, path)
    secrets: dict[tuple[str, str, str, str], str] = field(default_factory=dict)  # (project, env, path, name) -> value
    logins: list[str] = field(default_factory=list)  # client ids that logged in
    reads: list[tuple[str, str]] = field(default_factory=list)  # (folder path, name) read
    tokens: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, project: str, environment: str, path: str, name: str, value: str) -> None:
        """Store a secret (and its folder), as if entered in Infisical's web UI."""
        self.folders.add((project, environment, path))
        self.secrets[(project, environment, path, name)] = value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"reqId": uuid.uuid4().hex, "statusCode": status, "message": message, "error": "Error"})

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        if self.path != _LOGIN:
            self._error(404, f"Route POST:{self.path} not found")
            return
        client_id, offered = str(body.get("clientId")), str(body.get("clientSecret", ""))
        known = state.identities.get(client_id)
        if known is None or not hmac.compare_digest(known, offered):
            self._error(401, "Invalid credentials")
            return
        token = secrets.token_urlsafe(24)
        with state.lock:
            state.tokens[token] = client_id
            state.logins.append(client_id)
        self._send(200, {"accessToken": token, "expiresIn": 7200, "accessTokenMaxTTL": 43200, "tokenType": "Bearer"})

    def do_GET(self) -> None:
        state = self.server.state
        split = urlsplit(self.path)
        if not split.path.startswith(_SECRET):
            self._error(404, f"Route GET:{split.path} not found")
            return
        if state.tokens.get(self.headers.get("Authorization", "").removeprefix("Bearer ")) is None:
            self._error(401, "Failed to authenticate: the access token is invalid or expired")
            return
        name = unquote(split.path[len(_SECRET) :])
        query = {key: values[0] for key, values in parse_qs(split.query).items()}
        project, environment, path = (
            query.get("workspaceId", ""),
            query.get("environment", ""),
            query.get("secretPath", "/"),
        )
        with state.lock:
            state.reads.append((path, name))
        if (project, environment, path) not in state.folders:
            self._error(404, f"Folder with path '{path}' in environment with slug '{environment}' not found")
            return
        value = state.secrets.get((project, environment, path, name))
        if value is None:
            self._error(404, f"Secret with name '{name}' not found")
            return
        secret_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{project}/{environment}{path}/{name}"))
        self._send(
            200,
            {
                "secret": {
                    "id": secret_id, "_id": secret_id, "workspace": project, "environment": environment,
                    "version": 1, "type": "shared", "secretKey": name, "secretValue": value,
                    "secretComment": "", "secretPath": path, "createdAt": _STAMP, "updatedAt": _STAMP, "tags": [],
                }
            },
        )  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: InfisicalStandIn) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


def serve_infisical(identities: dict[str, str]) -> Iterator[InfisicalStandIn]:
    """Run a stand-in that knows ``identities`` (client id → client secret) while the generator is suspended."""
    state = InfisicalStandIn(identities=dict(identities))
    server = _Server(state)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
