"""The ``google_vision`` engine: Cloud Vision's DOCUMENT_TEXT_DETECTION over its REST API.

Images, and PDF pages when no bucket is configured, go to ``images:annotate`` one page at
a time (rendered by the SDK). With ``gcs_bucket`` set, the PDF pages that need OCR go to
``files:asyncBatchAnnotate`` in one operation: the PDF is uploaded to Cloud Storage, the
operation polled, its JSON output read back and every object removed. Pages with a PDF
text layer never leave the machine. Authentication: an API key (``?key=``, images only) or
a service account's OAuth 2.0 access token, from the call's secrets, never the config.

Every request, the service account's token exchange included, goes through the call's
network-policy client (``context.http_client_sync``).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

import httpx
from PIL import Image
from pydantic import Field

from synthral_sdk import BBox, Context, OCRBlock, OCRLine, OCRPage, OCRWord
from synthral_sdk.documents import DocumentConfig, PageImage, PageOCREngine, union
from synthral_sdk.errors import ConfigInvalid, EgressDenied, InputInvalid, NonRetryableError, RetryableError

__all__ = ["API_KEY_SECRET", "SERVICE_ACCOUNT_SECRET", "GoogleVisionConfig", "GoogleVisionEngine"]

API_KEY_SECRET: Final = "GOOGLE_VISION_API_KEY"  # noqa: S105 - the secret's name, not its value
SERVICE_ACCOUNT_SECRET: Final = "GOOGLE_VISION_SERVICE_ACCOUNT"  # noqa: S105 - a name
_SCOPE: Final = "https://www.googleapis.com/auth/cloud-vision"
_BREAKS: Final = {"SPACE": " ", "SURE_SPACE": " ", "EOL_SURE_SPACE": "\n", "LINE_BREAK": "\n", "HYPHEN": "-\n"}
_KINDS: Final = {"TEXT": "text", "TABLE": "table", "PICTURE": "figure", "RULER": "other", "BARCODE": "other"}


class GoogleVisionConfig(DocumentConfig):
    """How the ``google_vision`` engine calls Cloud Vision."""

    credential: Literal["api_key", "service_account"] = Field(
        description=f"How to authenticate: 'api_key' (secret {API_KEY_SECRET}) or 'service_account' (secret "
        f"{SERVICE_ACCOUNT_SECRET}, the account's JSON key). Required: without it the engine is not ready."
    )

    endpoint: str = Field(
        default="https://vision.googleapis.com/v1",
        description="The API's base URL (a regional endpoint such as https://eu-vision.googleapis.com/v1).",
    )
    feature: str = Field(
        default="DOCUMENT_TEXT_DETECTION", pattern="^(DOCUMENT_TEXT_DETECTION|TEXT_DETECTION)$", description="Feature."
    )
    timeout: float = Field(default=60.0, gt=0, le=600, description="Seconds per request.")
    page_workers: int = Field(default=4, ge=1, le=16, description="Pages sent at the same time.")
    gcs_bucket: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$",
        description="A Cloud Storage bucket for files:asyncBatchAnnotate; PDFs then go in one operation (needs "
        "credential 'service_account' with access to the bucket). Unset: PDF pages go one by one.",
    )
    storage_endpoint: str = Field(default="https://storage.googleapis.com", description="Cloud Storage's base URL.")
    poll_interval: float = Field(default=2.0, gt=0, le=60, description="Seconds between checks of an operation.")


class GoogleVisionEngine(PageOCREngine[GoogleVisionConfig]):
    """Read documents with Google Cloud Vision (needs an API key or a service account)."""

    name = "google_vision"
    title = "Google Cloud Vision"

    def __init__(self) -> None:
        self._tokens: dict[str, Any] = {}
        self._lock = threading.Lock()

    def engine_version(self, config: GoogleVisionConfig) -> str:
        """``google-vision v1``."""
        del config
        return "google-vision v1"

    def read_page(
        self, page: PageImage, config: GoogleVisionConfig, languages: list[str] | None, context: Context
    ) -> OCRPage:
        """Send one page image to ``images:annotate`` and map the full text annotation."""
        out = io.BytesIO()
        page.image.save(out, format="PNG")
        request: dict[str, Any] = {
            "image": {"content": base64.b64encode(out.getvalue()).decode()},
            "features": [{"type": config.feature}],
        }
        if languages:
            request["imageContext"] = {"languageHints": languages}
        params, headers = self._auth(config, context)
        try:
            with context.http_client_sync(
                timeout=min(config.timeout, context.time_remaining() or config.timeout)
            ) as client:
                answer = client.post(
                    f"{config.endpoint}/images:annotate", params=params, headers=headers, json={"requests": [request]}
                )
        except httpx.HTTPError as exc:
            raise RetryableError(f"could not reach Cloud Vision at {config.endpoint}: {exc}") from exc
        body = _json(answer)
        if answer.status_code in (401, 403):
            raise ConfigInvalid(
                f"Cloud Vision refused the credentials ({_message(body)}); check the secret {API_KEY_SECRET} "
                f"or {SERVICE_ACCOUNT_SECRET} and that the Vision API is enabled for the project"
            )
        if answer.status_code == 429 or answer.status_code >= 500:
            raise RetryableError(f"Cloud Vision answered {answer.status_code}: {_message(body)}")
        if answer.status_code != 200:
            raise NonRetryableError(f"Cloud Vision answered {answer.status_code}: {_message(body)}")
        [response] = body.get("responses") or [{}]
        if "error" in response:
            raise InputInvalid(f"Cloud Vision could not read page {page.number}: {_message(response)}")
        return _page(page, response.get("fullTextAnnotation") or {})

    def read_pdf_pages(
        self,
        path: Path,
        numbers: list[int],
        config: GoogleVisionConfig,
        languages: list[str] | None,
        context: Context,
    ) -> dict[int, OCRPage] | None:
        """Send the PDF's pages that need OCR to ``files:asyncBatchAnnotate`` when a bucket is configured."""
        if config.gcs_bucket is None:
            return None
        if config.credential != "service_account":
            raise ConfigInvalid(
                "config field 'gcs_bucket' needs config field 'credential' set to 'service_account' (Cloud Storage "
                "takes no API key); change 'credential', or unset 'gcs_bucket' to send PDF pages one by one",
                details={"gcs_bucket": config.gcs_bucket},
            )
        _, headers = self._auth(config, context)
        batch = _AsyncBatch(config, headers, context)
        return batch.run(path, numbers, languages)

    def _auth(self, config: GoogleVisionConfig, context: Context) -> tuple[dict[str, str], dict[str, str]]:
        name = API_KEY_SECRET if config.credential == "api_key" else SERVICE_ACCOUNT_SECRET
        value = context.secrets.get(name)
        if not value:
            raise ConfigInvalid(
                f"config field 'credential' is {config.credential!r} but the call was not granted the secret "
                f"{name}; store it in the credential store and list it in the node's 'secrets'",
                details={"secret": name},
            )
        if config.credential == "api_key":
            return {"key": value}, {}
        return {}, {"Authorization": f"Bearer {self._token(value, context)}"}

    def _token(self, account_json: str, context: Context) -> str:
        from google.oauth2 import service_account  # noqa: PLC0415 - only service accounts need it

        with self._lock:
            credentials = self._tokens.get(account_json)
            if credentials is None:
                try:
                    info = json.loads(account_json)
                    credentials = service_account.Credentials.from_service_account_info(info, scopes=[_SCOPE])
                except (ValueError, KeyError) as exc:
                    raise ConfigInvalid(
                        f"the secret {SERVICE_ACCOUNT_SECRET} is not a service account's JSON key ({exc}); "
                        "download a key for the account and store the whole file as the secret"
                    ) from None
                self._tokens[account_json] = credentials
            if not credentials.valid:
                credentials.refresh(_TokenTransport(context))
            return str(credentials.token)


@dataclass(frozen=True)
class _TokenAnswer:
    """What google-auth reads of an answer (its ``transport.Response``)."""

    status: int
    headers: Mapping[str, str]
    data: bytes


class _TokenTransport:
    """google-auth's ``transport.Request`` (the token exchange) made with the call's network-policy client.

    google-auth calls any callable of this signature; its ``requests`` transport would connect
    wherever the key's ``token_uri`` points, past the policy. Like that transport, it follows
    redirects, waits 120 s unless told otherwise and raises ``TransportError`` when the
    endpoint cannot be reached; a refused address raises ``EgressDenied``.
    """

    def __init__(self, context: Context) -> None:
        self._context = context

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _TokenAnswer:
        del kwargs
        try:
            with self._context.http_client_sync(timeout=timeout or 120.0, follow_redirects=True) as client:
                answer = client.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            from google.auth.exceptions import TransportError  # noqa: PLC0415 - only service accounts need it

            raise TransportError(exc) from exc  # type: ignore[no-untyped-call]
        return _TokenAnswer(status=answer.status_code, headers=dict(answer.headers), data=answer.content)


class _AsyncBatch:
    """One PDF through files:asyncBatchAnnotate and Cloud Storage."""

    def __init__(self, config: GoogleVisionConfig, headers: dict[str, str], context: Context) -> None:
        self.config = config
        self.headers = headers
        self.context = context
        self.prefix = f"synthral-ocr/{uuid.uuid4().hex}/"
        self.http = context.http_client_sync(headers=headers, timeout=config.timeout)

    def run(self, path: Path, numbers: list[int], languages: list[str] | None) -> dict[int, OCRPage]:
        bucket = self.config.gcs_bucket
        source = f"{self.prefix}input.pdf"
        try:
            with path.open("rb") as body:
                self._call(
                    "POST",
                    f"{self.config.storage_endpoint}/upload/storage/v1/b/{bucket}/o",
                    params={"uploadType": "media", "name": source},
                    content=body.read(),
                    headers={"Content-Type": "application/pdf"},
                )
            request: dict[str, Any] = {
                "inputConfig": {"gcsSource": {"uri": f"gs://{bucket}/{source}"}, "mimeType": "application/pdf"},
                "features": [{"type": self.config.feature}],
                "outputConfig": {"gcsDestination": {"uri": f"gs://{bucket}/{self.prefix}output-"}, "batchSize": 20},
                "pages": numbers,
            }
            if languages:
                request["imageContext"] = {"languageHints": languages}
            operation = self._call(
                "POST", f"{self.config.endpoint}/files:asyncBatchAnnotate", json={"requests": [request]}
            )
            self._wait(str(operation["name"]))
            return self._results(numbers)
        finally:
            self._clean()
            self.http.close()

    def _wait(self, name: str) -> None:
        while True:
            self.context.check()
            state = self._call("GET", f"{self.config.endpoint}/{name}")
            if state.get("done"):
                if "error" in state:
                    raise InputInvalid(f"Cloud Vision could not read the PDF: {_message(state)}")
                return
            time.sleep(self.config.poll_interval)

    def _objects(self) -> list[str]:
        listing = self._call(
            "GET",
            f"{self.config.storage_endpoint}/storage/v1/b/{self.config.gcs_bucket}/o",
            params={"prefix": self.prefix},
        )
        return [str(item["name"]) for item in listing.get("items") or []]

    def _results(self, numbers: list[int]) -> dict[int, OCRPage]:
        pages: dict[int, OCRPage] = {}
        for name in sorted(self._objects()):
            if not name.startswith(f"{self.prefix}output-"):
                continue
            output = self._call(
                "GET",
                f"{self.config.storage_endpoint}/storage/v1/b/{self.config.gcs_bucket}/o/{quote(name, safe='')}",
                params={"alt": "media"},
            )
            for response in output.get("responses") or []:
                number = int((response.get("context") or {}).get("pageNumber", 0))
                if "error" in response:
                    raise InputInvalid(f"Cloud Vision could not read page {number} of the PDF: {_message(response)}")
                annotation = response.get("fullTextAnnotation") or {}
                pages[number] = _page_from_annotation(number, annotation, self.config.dpi)
        missing = [number for number in numbers if number not in pages]
        if missing:
            raise NonRetryableError(f"Cloud Vision's output lacks page(s) {missing}; try the document again")
        return pages

    def _clean(self) -> None:
        with contextlib.suppress(httpx.HTTPError, NonRetryableError, RetryableError, ConfigInvalid, EgressDenied):
            for name in self._objects():
                self.http.delete(
                    f"{self.config.storage_endpoint}/storage/v1/b/{self.config.gcs_bucket}/o/{quote(name, safe='')}"
                )

    def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        where = url.split("?", 1)[0]
        try:
            answer = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise RetryableError(f"could not reach {where}: {exc}") from exc
        body = _json(answer)
        if answer.status_code in (401, 403):
            raise ConfigInvalid(
                f"Google refused the service account for {where} ({_message(body)}); grant it the Vision "
                f"API and access to the bucket {self.config.gcs_bucket}"
            )
        if answer.status_code == 429 or answer.status_code >= 500:
            raise RetryableError(f"{where} answered {answer.status_code}: {_message(body)}")
        if answer.status_code >= 400:
            raise NonRetryableError(f"{where} answered {answer.status_code}: {_message(body)}")
        return body


def _page_from_annotation(number: int, annotation: dict[str, Any], dpi: int) -> OCRPage:
    """A PDF page's annotation: Vision gives its size in points and boxes as fractions of it."""
    [vision_page] = annotation.get("pages") or [{"width": 612, "height": 792}]
    scale = dpi / 72
    width = max(1, round(float(vision_page.get("width", 612)) * scale))
    height = max(1, round(float(vision_page.get("height", 792)) * scale))

    def absolute(poly: dict[str, Any] | None) -> dict[str, Any]:
        vertices = (poly or {}).get("normalizedVertices")
        if vertices is None:
            return poly or {}
        return {"vertices": [{"x": v.get("x", 0) * width, "y": v.get("y", 0) * height} for v in vertices]}

    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: absolute(v) if k == "boundingBox" else convert(v) for k, v in node.items()}
        if isinstance(node, list):
            return [convert(item) for item in node]
        return node

    image = PageImage(number=number, image=Image.new("1", (width, height)), dpi=dpi)
    return _page(image, convert(annotation))


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {"error": {"message": answer.text[:200]}}
    return body if isinstance(body, dict) else {}


def _message(body: dict[str, Any]) -> str:
    error = body.get("error") or {}
    return str(error.get("message") or error or body)[:300]


def _box(poly: dict[str, Any] | None) -> BBox:
    vertices = (poly or {}).get("vertices") or [{}]
    xs = [float(v.get("x", 0)) for v in vertices]
    ys = [float(v.get("y", 0)) for v in vertices]
    return BBox(x=min(xs), y=min(ys), width=max(xs) - min(xs), height=max(ys) - min(ys))


def _page(page: PageImage, annotation: dict[str, Any]) -> OCRPage:
    """Vision's pages → blocks → paragraphs → words → symbols as blocks of lines of words."""
    blocks: list[OCRBlock] = []
    for vision_page in annotation.get("pages") or []:
        for vision_block in vision_page.get("blocks") or []:
            lines: list[OCRLine] = []
            current: list[OCRWord] = []
            for paragraph in vision_block.get("paragraphs") or []:
                for word in paragraph.get("words") or []:
                    symbols = word.get("symbols") or []
                    text = "".join(str(symbol.get("text", "")) for symbol in symbols)
                    if text:
                        confidence = min(max(float(word.get("confidence", 1.0)), 0.0), 1.0)
                        current.append(OCRWord(text=text, bbox=_box(word.get("boundingBox")), confidence=confidence))
                    brk = ((symbols[-1].get("property") or {}).get("detectedBreak") or {}) if symbols else {}
                    if "\n" in _BREAKS.get(str(brk.get("type", "")), "") and current:
                        lines.append(_line(current))
                        current = []
                if current:
                    lines.append(_line(current))
                    current = []
            if lines:
                words = [word for line in lines for word in line.words]
                blocks.append(
                    OCRBlock(
                        text="\n".join(line.text for line in lines),
                        bbox=union([line.bbox for line in lines]),
                        confidence=min(max(float(vision_block.get("confidence", 1.0)), 0.0), 1.0),
                        words=words,
                        lines=lines,
                        order=len(blocks),
                        kind=_KINDS.get(str(vision_block.get("blockType", "TEXT")), "text"),  # type: ignore[arg-type]
                    )
                )
    return OCRPage(
        number=page.number,
        width=page.image.width,
        height=page.image.height,
        text="\n\n".join(block.text for block in blocks),
        blocks=blocks,
    )


def _line(words: list[OCRWord]) -> OCRLine:
    return OCRLine(
        text=" ".join(word.text for word in words),
        bbox=union([word.bbox for word in words]),
        confidence=sum(word.confidence for word in words) / len(words),
        words=list(words),
    )
