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
from urllib.parse import parse_qs, urlparse

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
