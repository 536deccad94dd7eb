"""The ``openai`` embedder: ``POST {base_url}/embeddings`` of any OpenAI-compatible API."""

from __future__ import annotations

import base64
import logging
import struct
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from synthral_sdk import Context, Embedder, EmbedRequest, EmbedResult
from synthral_sdk.errors import NonRetryableError, RetryableError

__all__ = ["OpenAICompatibleEmbedder", "OpenAIEmbedConfig"]

logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs URLs; keep requests out of the call log


class OpenAIEmbedConfig(BaseModel):
    """Which API and model."""

    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrl = Field(
        default=HttpUrl("https://api.openai.com/v1"),
        description="The API's base URL, ending before /embeddings (e.g. http://localhost:11434/v1 for Ollama).",
    )
    model: str = Field(default="text-embedding-3-small", min_length=1, max_length=200)
    dimensions: int | None = Field(
        default=None, ge=1, le=16_384, description="Ask for shorter vectors, if the model can."
    )
    batch_size: int = Field(default=256, ge=1, le=2048, description="Texts per request.")
    timeout: float = Field(default=60.0, gt=0, le=600)


def model_id(config: OpenAIEmbedConfig) -> str:
    """What an index records: the server, the model and the dimensions asked for."""
    host = urlsplit(str(config.base_url)).netloc
    suffix = f":{config.dimensions}" if config.dimensions else ""
    return f"openai-compatible/{host}/{config.model}{suffix}"


def _vector(item: object, where: str) -> list[float]:
    embedding = item.get("embedding") if isinstance(item, dict) else None
    if isinstance(embedding, str):  # encoding_format=base64: little-endian float32
        raw = base64.b64decode(embedding)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    if isinstance(embedding, list) and all(isinstance(x, int | float) for x in embedding):
        return [float(x) for x in embedding]
    raise NonRetryableError(f"{where} answered without an embedding list; is base_url an OpenAI-compatible API?")


class OpenAICompatibleEmbedder(Embedder[OpenAIEmbedConfig]):
    """Embeddings from a hosted or local OpenAI-compatible API; the key is the secret 'api_key' (optional)."""

    name = "openai"
    title = "OpenAI-compatible embeddings"
    secrets = ("api_key",)

    async def embed(self, request: EmbedRequest, config: OpenAIEmbedConfig, context: Context) -> EmbedResult:
        """Embed in batches; vectors come back in the order of the texts."""
        url = str(config.base_url).rstrip("/") + "/embeddings"
        headers = {"Authorization": f"Bearer {context.secrets['api_key']}"} if context.secrets.get("api_key") else {}
        vectors: list[list[float]] = []
        async with context.http_client(timeout=config.timeout) as client:
            for start in range(0, len(request.texts), config.batch_size):
                batch = request.texts[start : start + config.batch_size]
                body: dict[str, object] = {"model": config.model, "input": batch, "encoding_format": "base64"}
                if config.dimensions:
                    body["dimensions"] = config.dimensions
                vectors += await self._request(client, url, body, headers, len(batch))
        sizes = {len(v) for v in vectors}
        if len(sizes) != 1:
            raise NonRetryableError(f"{url} answered vectors of several sizes {sorted(sizes)}; check 'model'")
        return EmbedResult(model=model_id(config), dimensions=sizes.pop(), vectors=vectors)

    async def _request(
        self, client: httpx.AsyncClient, url: str, body: dict[str, object], headers: dict[str, str], expected: int
    ) -> list[list[float]]:
        try:
            response = await client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryableError(f"{url} cannot be reached ({type(exc).__name__}); check base_url") from None
        if response.status_code in {401, 403}:
            raise NonRetryableError(
                f"{url} refused the API key ({response.status_code}); grant the secret 'api_key' with a valid key"
            )
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(f"{url} answered {response.status_code}; try again later")
        if response.status_code >= 400:
            raise NonRetryableError(f"{url} refused the request ({response.status_code}): {_message(response)}")
        try:
            data = response.json()["data"]
        except (ValueError, KeyError, TypeError):
            raise NonRetryableError(f"{url} did not answer like an OpenAI embeddings API; check base_url") from None
        if not isinstance(data, list) or len(data) != expected:
            raise NonRetryableError(
                f"{url} answered {len(data) if isinstance(data, list) else 0} vectors for {expected} texts"
            )
        ordered = sorted(data, key=lambda item: item.get("index", 0) if isinstance(item, dict) else 0)
        return [_vector(item, url) for item in ordered]


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return response.text[:300]
