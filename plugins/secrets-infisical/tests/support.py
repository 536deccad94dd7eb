"""A local stand-in for Infisical's API: the endpoints ``infisicalsdk`` calls, on 127.0.0.1.

It speaks what the SDK sends and reads: Universal Auth login
(``POST /api/v1/auth/universal-auth/login``) and the raw secrets endpoints
(``GET|POST|PATCH|DELETE /api/v3/secrets/raw/{name}``), with Infisical's JSON shapes,
statuses and error bodies (``{"statusCode", "message", "error"}``).
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

CLIENT_ID = "5e3c2a1b-client-id-0001"
CLIENT_SECRET = "c1i3nt-s3cr3t-VALUE-0001"
READER_ID = "5e3c2a1b-client-id-0002"
READER_SECRET = "r3ad3r-s3cr3t-VALUE-0002"
PROJECT = "proj-7f1c"
ENVIRONMENT = "prod"

_SECRETS_PREFIX = "/api/v3/secrets/raw/"


@dataclass
class Identity:
    """A machine identity with Universal Auth."""

    client_secret: str
    can_write: bool = True


@dataclass
class Stored:
    """One secret version as Infisical keeps it."""

    id: str
    value: str
    version: int
    created_at: str


@dataclass
class InfisicalState:
    """What the stand-in knows, and what it was asked."""

    identities: dict[str, Identity] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> client id
    folders: set[tuple[str, str, str]] = field(default_factory=set)  # (project, environment, path)
    secrets: dict[tuple[str, str, str, str], Stored] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    answer_next: list[int | tuple[int, str]] = field(default_factory=list)  # next answers: status[, message]
    drop_next: int = 0  # requests to close without an answer
    stall: float = 0.0  # seconds to wait before answering
    refuse_tokens: bool = False  # answer 401 to every token, however fresh
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_folder(self, path: str, *, project: str = PROJECT, environment: str = ENVIRONMENT) -> None:
        """Create a folder."""
        self.folders.add((project, environment, path))

    def put(
        self, name: str, value: str, *, path: str = "/", project: str = PROJECT, environment: str = ENVIRONMENT
    ) -> None:
        """Store a secret directly, as if someone had entered it in Infisical's web UI."""
        self.add_folder(path, project=project, environment=environment)
        key = (project, environment, path, name)
        old = self.secrets.get(key)
        self.secrets[key] = Stored(old.id if old else str(uuid.uuid4()), value, old.version + 1 if old else 1, _now())

    def value(self, name: str, *, path: str = "/", environment: str = ENVIRONMENT) -> str | None:
        """A secret's value, or ``None``."""
        stored = self.secrets.get((PROJECT, environment, path, name))
        return None if stored is None else stored.value

    def revoke_tokens(self) -> None:
        """Invalidate every access token handed out so far."""
        self.tokens.clear()

    def count(self, method: str, prefix: str) -> int:
        """How many requests of ``method`` had a path starting with ``prefix``."""
        return sum(1 for m, path in self.requests if m == method and path.startswith(prefix))

    @property
    def logins(self) -> int:
        """How many logins were attempted."""
        return self.count("POST", "/api/v1/auth/universal-auth/login")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: InfisicalServer

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # keep test output clean

    @property
    def state(self) -> InfisicalState:
        return self.server.state

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, error: str) -> None:
        self._send(
            status, {"reqId": f"req-{uuid.uuid4().hex[:12]}", "statusCode": status, "message": message, "error": error}
        )

    def _json_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        loaded = json.loads(self.rfile.read(length))
        return loaded if isinstance(loaded, dict) else {}

    def _handle(self) -> None:
        split = urlsplit(self.path)
        body = self._json_body()
        with self.state.lock:
            self.state.requests.append((self.command, split.path))
            drop = self.state.drop_next > 0
            if drop:
                self.state.drop_next -= 1
            forced = self.state.answer_next.pop(0) if self.state.answer_next else None
            stall = self.state.stall
        if drop:
            self.close_connection = True  # no answer at all: the client sees the connection end
            return
        if stall and self.server.stopping.wait(stall):
            return
        if forced is not None:
            status, message = forced if isinstance(forced, tuple) else (forced, None)
            reason = message or {429: "Too many requests", 503: "Service unavailable"}.get(status, "Forced answer")
            self._error(status, reason, "Forced")
            return
        if self.command == "POST" and split.path == "/api/v1/auth/universal-auth/login":
            self._login(body)
        elif split.path.startswith(_SECRETS_PREFIX):
            self._secret(unquote(split.path[len(_SECRETS_PREFIX) :]), parse_qs(split.query), body)
        else:
            self._error(404, f"Route {self.command}:{split.path} not found", "NotFound")

    def _login(self, body: dict[str, Any]) -> None:
        identity = self.state.identities.get(str(body.get("clientId")))
        offered = str(body.get("clientSecret", ""))
        if identity is None or not hmac.compare_digest(identity.client_secret, offered):
            self._error(401, "Invalid credentials", "UnauthorizedError")
            return
        token = secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.tokens[token] = str(body["clientId"])
        self._send(200, {"accessToken": token, "expiresIn": 7200, "accessTokenMaxTTL": 43200, "tokenType": "Bearer"})

    def _secret(self, name: str, query: dict[str, list[str]], body: dict[str, Any]) -> None:
        header = self.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        client_id = self.state.tokens.get(token)
        if client_id is None or self.state.refuse_tokens:
            self._error(401, "Failed to authenticate: the access token is invalid or expired", "UnauthorizedError")
            return
        params = {key: values[0] for key, values in query.items()} if self.command == "GET" else body
        project, environment = str(params.get("workspaceId")), str(params.get("environment"))
        path = str(params.get("secretPath", "/"))
        if project != PROJECT:
            self._error(403, "You are not allowed to access this project", "PermissionDenied")
            return
        if (project, environment, path) not in self.state.folders:
            self._error(
                404, f"Folder with path '{path}' in environment with slug '{environment}' not found", "GetSecretByName"
            )
            return
        if self.command != "GET" and not self.state.identities[client_id].can_write:
            self._error(403, "You are not allowed to edit secrets in this environment", "PermissionDenied")
            return
        key = (project, environment, path, name)
        stored = self.state.secrets.get(key)
        if self.command == "GET":
            if stored is None:
                self._error(404, f"Secret with name '{name}' not found", "NotFound")
            else:
                self._send(200, {"secret": _shape(stored, key)})
        elif self.command == "POST":
            if stored is not None:
                self._error(400, "Secret already exist", "BadRequest")
                return
            self.state.secrets[key] = Stored(str(uuid.uuid4()), str(body.get("secretValue", "")), 1, _now())
            self._send(200, {"secret": _shape(self.state.secrets[key], key)})
        elif self.command == "PATCH":
            if stored is None:
                self._error(404, f"Secret with name {name} not found", "NotFound")
                return
            stored.value, stored.version = str(body.get("secretValue", stored.value)), stored.version + 1
            self._send(200, {"secret": _shape(stored, key)})
        elif self.command == "DELETE":
            if stored is None:
                self._error(404, f"Secret with name '{name}' not found", "NotFound")
                return
            del self.state.secrets[key]
            self._send(200, {"secret": _shape(stored, key)})

    do_GET = do_POST = do_PATCH = do_DELETE = _handle  # noqa: N815 -- http.server's names


def _shape(stored: Stored, key: tuple[str, str, str, str]) -> dict[str, Any]:
    project, environment, path, name = key
    return {
        "id": stored.id,
        "_id": stored.id,
        "workspace": project,
        "environment": environment,
        "version": stored.version,
        "type": "shared",
        "secretKey": name,
        "secretValue": stored.value,
        "secretComment": "",
        "secretPath": path,
        "secretValueHidden": False,
        "skipMultilineEncoding": False,
        "secretMetadata": [],
        "tags": [],
        "createdAt": stored.created_at,
        "updatedAt": _now(),
    }


class InfisicalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = InfisicalState()
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out leave handlers writing into closed sockets; tests do that on purpose.
        del request, client_address


@dataclass(frozen=True)
class StandIn:
    """A running stand-in and its state."""

    url: str
    state: InfisicalState

    def config(self, **overrides: object) -> dict[str, object]:
        """The store's config pointing at this stand-in."""
        return {"site_url": self.url, "project_id": PROJECT, "environment": ENVIRONMENT, **overrides}


def serve() -> Iterator[StandIn]:
    """Run a fresh stand-in with two identities (one may only read) while the generator is suspended."""
    httpd = InfisicalServer()
    httpd.state.identities = {CLIENT_ID: Identity(CLIENT_SECRET), READER_ID: Identity(READER_SECRET, can_write=False)}
    httpd.state.add_folder("/")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield StandIn(f"http://127.0.0.1:{httpd.server_address[1]}", httpd.state)
    finally:
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
