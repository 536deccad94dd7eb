"""A local stand-in for E2B: the control-plane REST API and a sandbox's envd, as the SDK speaks them.

The REST part answers ``POST /v2/sandboxes`` and ``DELETE /sandboxes/{id}`` with the
``X-API-KEY`` header, in the JSON of E2B's OpenAPI document. The envd part is one ASGI app
behind the SDK's ``sandbox_url``: ``GET``/``POST /files`` (octet-stream uploads, as envd
0.5.7 and later take them) and the Connect RPC service ``process.Process`` (``Start``
streaming, ``SendSignal``) with the JSON codec the SDK uses, served by connectrpc's own
server classes. A "sandbox" here is a folder on this machine standing for the VM's disk:
paths under /home/user are kept in it. It runs commands for real but isolates nothing; the
isolation checks are E2B's job and the conformance suite skips them for this runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from e2b.envd.process import process_pb as pb
from e2b.envd.process.process_connect import Process, ProcessASGIApplication
from protobuf import Oneof

HOME = "/home/user"
ENVD_VERSION = "0.5.8"


@dataclass
class Box:
    """One stand-in sandbox."""

    id: str
    token: str
    root: Path
    template: str
    body: dict[str, Any]
    processes: dict[int, asyncio.subprocess.Process] = field(default_factory=dict)

    def path(self, inside: str) -> Path:
        """Where a sandbox path is kept on this machine."""
        if not inside.startswith("/"):
            inside = f"{HOME}/{inside}"
        return self.root / inside.lstrip("/")

    def translate(self, text: str) -> str:
        return text.replace(HOME, str(self.root / HOME.lstrip("/")))


@dataclass
class StandIn:
    """The running stand-in: its URLs, its key, and what it saw."""

    api_url: str
    sandbox_url: str
    api_key: str
    boxes: dict[str, Box] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def config(self) -> dict[str, Any]:
        """The runtime's config pointing at this stand-in."""
        return {"api_url": self.api_url, "sandbox_url": self.sandbox_url, "http_version": "1.1"}


def _rest_handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: object | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("X-API-KEY") != stand_in.api_key:
                self._answer(401, {"code": 401, "message": "Invalid API key, it must start with 'e2b_'"})
                return False
            return True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self._authorised():
                return
            if self.path != "/v2/sandboxes":
                self._answer(404, {"code": 404, "message": f"no route {self.path}"})
                return
            box = Box(
                id=f"i{secrets.token_hex(10)}",
                token=secrets.token_hex(16),
                root=Path(tempfile.mkdtemp(prefix="e2b-stand-in-")),
                template=str(body.get("templateID")),
                body=body,
            )
            box.path(HOME).mkdir(parents=True)
            with stand_in.lock:
                stand_in.boxes[box.id] = box
                stand_in.created.append(body)
            self._answer(
                201,
                {
                    "templateID": box.template,
                    "sandboxID": box.id,
                    "clientID": "stand-in",
                    "envdVersion": ENVD_VERSION,
                    "envdAccessToken": box.token,
                },
            )

        def do_DELETE(self) -> None:
            if not self._authorised():
                return
            sandbox_id = self.path.rsplit("/", 1)[-1]
            with stand_in.lock:
                box = stand_in.boxes.pop(sandbox_id, None)
            if box is None:
                self._answer(404, {"code": 404, "message": f"sandbox {sandbox_id} not found"})
                return
            for process in box.processes.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            shutil.rmtree(box.root, ignore_errors=True)
            stand_in.deleted.append(sandbox_id)
            self._answer(204)

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    return Handler


class Processes(Process):
    """The ``process.Process`` service of envd, for the sandbox a request names."""

    def __init__(self, stand_in: StandIn) -> None:
        self.stand_in = stand_in

    def _box(self, ctx: RequestContext[Any, Any]) -> Box:
        headers = ctx.request_headers
        box = self.stand_in.boxes.get(headers.get("e2b-sandbox-id") or "")
        if box is None or headers.get("x-access-token") != box.token:
            raise ConnectError(Code.UNAUTHENTICATED, "unknown sandbox or access token")
        return box

    async def start(
        self, request: pb.StartRequest, ctx: RequestContext[pb.StartRequest, pb.StartResponse]
    ) -> AsyncIterator[pb.StartResponse]:
        box = self._box(ctx)
        config = request.process
        assert config is not None
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", **{k: box.translate(v) for k, v in config.envs.items()}}
        cwd = box.path(config.cwd) if config.cwd else box.path(HOME)
        process = await asyncio.create_subprocess_exec(
            config.cmd,
            *[box.translate(arg) for arg in config.args],
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        box.processes[process.pid] = process
        queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()

        async def pump(name: str, stream: asyncio.StreamReader) -> None:
            while chunk := await stream.read(32768):
                await queue.put((name, chunk))
            await queue.put(None)

        assert process.stdout is not None and process.stderr is not None
        pumps = [
            asyncio.create_task(pump("stdout", process.stdout)),
            asyncio.create_task(pump("stderr", process.stderr)),
        ]
        try:
            yield pb.StartResponse(
                event=pb.ProcessEvent(event=Oneof("start", pb.ProcessEvent.StartEvent(pid=process.pid)))
            )
            open_streams = 2
            while open_streams:
                item = await queue.get()
                if item is None:
                    open_streams -= 1
                    continue
                data = pb.ProcessEvent.DataEvent(output=Oneof(item[0], item[1]))
                yield pb.StartResponse(event=pb.ProcessEvent(event=Oneof("data", data)))
            code = await process.wait()
            end = pb.ProcessEvent.EndEvent(exit_code=code, exited=True, status=f"exit status {code}")
            yield pb.StartResponse(event=pb.ProcessEvent(event=Oneof("end", end)))
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
            # The killed group's pipes reach their end: read them out so their transports close.
            _, pending = await asyncio.wait(pumps, timeout=5)
            for task in pending:
                task.cancel()
            box.processes.pop(process.pid, None)

    async def send_signal(
        self, request: pb.SendSignalRequest, ctx: RequestContext[pb.SendSignalRequest, pb.SendSignalResponse]
    ) -> pb.SendSignalResponse:
        box = self._box(ctx)
        selector = request.process.selector if request.process else None
        pid = selector.value if isinstance(selector, Oneof) and selector.field == "pid" else None
        process = box.processes.get(int(pid)) if pid is not None else None
        if process is None:
            raise ConnectError(Code.NOT_FOUND, f"process {pid} not found")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return pb.SendSignalResponse()


def _envd_app(stand_in: StandIn) -> Any:
    processes = ProcessASGIApplication(Processes(stand_in))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] not in {"/files", "/health"}:
            await processes(scope, receive, send)
            return
        headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
        box = stand_in.boxes.get(headers.get("e2b-sandbox-id", ""))

        async def answer(status: int, body: bytes = b"", kind: str = "application/json") -> None:
            await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", kind.encode())]})
            await send({"type": "http.response.body", "body": body})

        if box is None or headers.get("x-access-token") != box.token:
            await answer(401, b'{"code":401,"message":"unknown sandbox or access token"}')
            return
        if scope["path"] == "/health":
            await answer(204)
            return
        query = parse_qs(scope["query_string"].decode())
        inside = query.get("path", [""])[0]
        target = box.path(inside)
        if scope["method"] == "GET":
            if not target.is_file():
                await answer(404, json.dumps({"code": 404, "message": f"path '{inside}' does not exist"}).encode())
                return
            await answer(200, target.read_bytes(), "application/octet-stream")
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        kind = headers.get("content-type", "")
        uploads = [(inside, body)]
        if kind.startswith("multipart/form-data"):  # what the SDK sends for str and bytes data
            message = BytesParser(policy=default).parsebytes(f"Content-Type: {kind}\r\n\r\n".encode() + body)
            uploads = [
                (inside or str(part.get_filename()), part.get_payload(decode=True) or b"")
                for part in message.iter_parts()
            ]
        entries = []
        for inside_path, data in uploads:
            target = box.path(inside_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            entries.append({"name": target.name, "type": "file", "path": inside_path})
        await answer(200, json.dumps(entries).encode())

    return app


@contextlib.contextmanager
def serve() -> Iterator[StandIn]:
    """Start the stand-in on two loopback ports; stop it and delete every sandbox's folder after."""
    rest = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    stand_in = StandIn(
        api_url=f"http://127.0.0.1:{rest.server_address[1]}",
        sandbox_url="",
        api_key=f"e2b_{secrets.token_hex(20)}",
    )
    rest.RequestHandlerClass = _rest_handler(stand_in)
    threading.Thread(target=rest.serve_forever, daemon=True).start()
    config = uvicorn.Config(_envd_app(stand_in), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the envd stand-in did not start")
        time.sleep(0.01)
    stand_in.sandbox_url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        yield stand_in
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        rest.shutdown()
        rest.server_close()
        for box in stand_in.boxes.values():
            shutil.rmtree(box.root, ignore_errors=True)
