"""A local stand-in for Cloud Vision speaking the documented images:annotate protocol."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pypdfium2 as pdfium  # the SDK's documents extra brings it
import pytest
from PIL import Image

KEY = "test-key-123"


@dataclass
class Vision:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None


def annotation(width: int, height: int) -> dict[str, Any]:
    """What Vision answers for a page reading 'Invoice 4721' / 'Total due', in its nesting."""

    def word(text: str, x: int, y: int, brk: str) -> dict[str, Any]:
        box = {
            "vertices": [
                {"x": x, "y": y},
                {"x": x + 20 * len(text), "y": y},
                {"x": x + 20 * len(text), "y": y + 40},
                {"x": x, "y": y + 40},
            ]
        }
        symbols = [{"text": ch} for ch in text]
        symbols[-1]["property"] = {"detectedBreak": {"type": brk}}
        return {"boundingBox": box, "symbols": symbols, "confidence": 0.97}

    words = [word("Invoice", 40, 40, "SPACE"), word("4721", 220, 40, "EOL_SURE_SPACE"),
             word("Total", 40, 110, "SPACE"), word("due", 160, 110, "LINE_BREAK")]  # fmt: skip
    block = {"blockType": "TEXT", "confidence": 0.96, "paragraphs": [{"words": words}]}
    return {"pages": [{"width": width, "height": height, "blocks": [block]}], "text": "Invoice 4721\nTotal due\n"}


@pytest.fixture
def vision() -> Iterator[Vision]:
    state = Vision(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            del args

        def do_POST(self) -> None:
            url = urlparse(self.path)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": url.path, "query": parse_qs(url.query), "body": body})
            if state.fail_with:
                self._answer(state.fail_with, {"error": {"code": state.fail_with, "message": "stand-in failure"}})
                return
            if parse_qs(url.query).get("key") != [KEY]:
                self._answer(
                    403, {"error": {"code": 403, "message": "API key not valid. Please pass a valid API key."}}
                )
                return
            if url.path != "/v1/images:annotate":
                self._answer(404, {"error": {"code": 404, "message": "not found"}})
                return
            responses = []
            for request in body["requests"]:
                image = Image.open(io.BytesIO(base64.b64decode(request["image"]["content"])))
                responses.append({"fullTextAnnotation": annotation(*image.size)})
            self._answer(200, {"responses": responses})

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class Cloud:
    """The stand-in's service-account side: an OAuth token endpoint, Cloud Storage, Vision operations."""

    url: str
    bucket: dict[str, bytes] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    token_requests: int = 0


TOKEN = "ya29.stand-in-token"


def _pdf_pages(data: bytes) -> int:
    pdf = pdfium.PdfDocument(data)
    try:
        return len(pdf)
    finally:
        pdf.close()


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    """Google's token endpoint, Cloud Storage's JSON API and files:asyncBatchAnnotate, as documented."""
    state = Cloud(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            del args

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(
                    401, {"error": {"code": 401, "message": "Request had invalid authentication credentials."}}
                )
                return False
            return True

        def do_POST(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            body = self._body()
            state.calls.append(f"POST {url.path}")
            if url.path == "/token":
                form = parse_qs(body.decode())
                assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"], form
                state.token_requests += 1
                self._answer(200, {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"})
                return
            if not self._authorised():
                return
            if url.path.startswith("/upload/storage/v1/b/"):
                name = query["name"][0]
                state.bucket[name] = body
                self._answer(200, {"name": name, "bucket": url.path.split("/")[5]})
                return
            if url.path == "/v1/files:asyncBatchAnnotate":
                [request] = json.loads(body)["requests"]
                source = request["inputConfig"]["gcsSource"]["uri"].split("/", 3)[3]
                destination = request["outputConfig"]["gcsDestination"]["uri"].split("/", 3)[3]
                pages = request.get("pages") or list(range(1, _pdf_pages(state.bucket[source]) + 1))
                responses = []
                for number in pages:
                    read = annotation(1, 1)
                    for block in read["pages"][0]["blocks"]:
                        for word in block["paragraphs"][0]["words"]:
                            vertices = word.pop("boundingBox")["vertices"]
                            word["boundingBox"] = {
                                "normalizedVertices": [{"x": v["x"] / 612, "y": v["y"] / 792} for v in vertices]
                            }
                    read["pages"][0].update(width=612, height=792)
                    responses.append({"fullTextAnnotation": read, "context": {"pageNumber": number}})
                state.bucket[f"{destination}output-1-to-{len(pages)}.json"] = json.dumps(
                    {"responses": responses}
                ).encode()
                name = f"operations/{len(state.operations) + 1}"
                state.operations[name] = {"polls": 0}
                self._answer(200, {"name": name})
                return
            self._answer(404, {"error": {"code": 404, "message": "not found"}})

        def do_GET(self) -> None:
            url = urlparse(self.path)
            state.calls.append(f"GET {url.path}")
            if not self._authorised():
                return
            if url.path.startswith("/v1/operations/"):
                operation = state.operations[url.path.removeprefix("/v1/")]
                operation["polls"] += 1
                self._answer(200, {"name": url.path.removeprefix("/v1/"), "done": operation["polls"] > 1})
                return
            parts = url.path.split("/")
            if url.path.endswith("/o"):
                prefix = parse_qs(url.query).get("prefix", [""])[0]
                self._answer(200, {"items": [{"name": n} for n in sorted(state.bucket) if n.startswith(prefix)]})
                return
            name = unquote(parts[-1])
            data = state.bucket[name]
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_DELETE(self) -> None:
            url = urlparse(self.path)
            state.calls.append(f"DELETE {url.path}")
            if not self._authorised():
                return
            state.bucket.pop(unquote(url.path.split("/")[-1]), None)
            self.send_response(204)
            self.end_headers()

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
