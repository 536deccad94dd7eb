"""The ``google_vision`` engine: pages sent to Cloud Vision's ``images:annotate`` (DOCUMENT_TEXT_DETECTION).

Pages with a PDF text layer never leave the machine; the others are rendered by the SDK
and sent one request per page. Authentication: an API key (``?key=``) or a service
account's OAuth 2.0 access token, both taken from the call's secrets (the credential
store), never from the config.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from typing import Any, Final, Literal

import httpx
from pydantic import Field

from synthral_sdk import BBox, Context, OCRBlock, OCRLine, OCRPage, OCRWord
from synthral_sdk.documents import DocumentConfig, PageImage, PageOCREngine, union
from synthral_sdk.errors import ConfigInvalid, InputInvalid, NonRetryableError, RetryableError

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
            answer = httpx.post(
                f"{config.endpoint}/images:annotate",
                params=params,
                headers=headers,
                json={"requests": [request]},
                timeout=min(config.timeout, context.time_remaining() or config.timeout),
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
        return {}, {"Authorization": f"Bearer {self._token(value)}"}

    def _token(self, account_json: str) -> str:
        from google.auth.transport.requests import Request  # noqa: PLC0415 - only service accounts need it
        from google.oauth2 import service_account  # noqa: PLC0415

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
                credentials.refresh(Request())
            return str(credentials.token)


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
