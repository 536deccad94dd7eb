"""Answers from retrieved chunks, citing them: the prompt, the LLM call and the citations.

The LLM is an installed ``llm_provider`` capability when the caller names one, else the
OpenAI-compatible endpoint the operator configured (``SYNTHRAL_RAG_LLM_BASE_URL``,
``SYNTHRAL_RAG_LLM_MODEL``, ``SYNTHRAL_RAG_LLM_API_KEY``). Workflow authors cannot point the
host at an arbitrary URL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import httpx
from pydantic import BaseModel

from synthral.errors import ConfigurationError, NonRetryableError, RetryableError
from synthral.plugins.host import PluginHost
from synthral.services.rag_models import LLMEndpoint, SearchHit
from synthral_sdk import CompletionResult

__all__ = ["Answer", "Citation", "build_messages", "complete", "parse_citations"]

SYSTEM_PROMPT: Final = (
    "Answer the question using only the numbered sources. After each statement, cite the sources it "
    "comes from as [1], [2]... If the sources do not contain the answer, say that you do not know."
)
_CITE = re.compile(r"\[(\d{1,3})\]")


class Citation(BaseModel):
    """A source the answer cites."""

    number: int
    chunk_id: str
    document_key: str
    text: str
    score: float


class Answer(BaseModel):
    """The answer and what it cites."""

    answer: str
    model: str
    citations: list[Citation]
    sources: list[SearchHit]


def build_messages(question: str, hits: Sequence[SearchHit]) -> list[dict[str, str]]:
    """The chat: instructions, then the numbered sources and the question."""
    sources = "\n\n".join(f"[{n}] ({hit.document_key})\n{hit.text}" for n, hit in enumerate(hits, 1))
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Sources:\n\n{sources}\n\nQuestion: {question}"},
    ]


def parse_citations(answer: str, hits: Sequence[SearchHit]) -> list[Citation]:
    """The sources the answer cites by number, in order of first citation; numbers out of range are ignored."""
    seen: list[int] = []
    for match in _CITE.finditer(answer):
        number = int(match.group(1))
        if 1 <= number <= len(hits) and number not in seen:
            seen.append(number)
    return [
        Citation(
            number=n,
            chunk_id=hits[n - 1].chunk_id,
            document_key=hits[n - 1].document_key,
            text=hits[n - 1].text,
            score=hits[n - 1].score,
        )
        for n in seen
    ]


async def complete(
    messages: list[dict[str, str]],
    *,
    plugins: PluginHost,
    provider: str | None,
    model: str | None,
    endpoint: LLMEndpoint | None,
    max_tokens: int,
    timeout: float = 120.0,
) -> tuple[str, str]:
    """Ask the LLM; return its text and the model that answered.

    Raises:
        ConfigurationError: Neither a provider nor an endpoint is configured.
        RetryableError: The endpoint failed in a way a retry may fix (5xx, 429, a dropped connection).
        NonRetryableError: The endpoint refused the request.
    """
    if provider is not None:
        if not model:
            raise ConfigurationError("name the model the LLM provider should use ('model')", details={"field": "model"})
        out = await plugins.invoke(
            provider,
            {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0},
            operation="complete",
        )
        result = CompletionResult.model_validate(out)
        return result.message.content, result.model
    if endpoint is None:
        raise ConfigurationError(
            "rag/answer needs an LLM: set 'provider' to an installed LLM provider ('plugin/capability'), or have "
            "the operator set SYNTHRAL_RAG_LLM_BASE_URL and SYNTHRAL_RAG_LLM_MODEL (an OpenAI-compatible endpoint)",
            details={"field": "provider"},
        )
    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    body = {"model": model or endpoint.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0}
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(f"{endpoint.base_url}/chat/completions", json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise RetryableError(f"the LLM endpoint {endpoint.base_url} failed: {type(exc).__name__}") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(f"the LLM endpoint answered {response.status_code}; retry later")
    if response.status_code >= 400:
        raise NonRetryableError(
            f"the LLM endpoint refused the request ({response.status_code}): {response.text[:300]}; "
            "check SYNTHRAL_RAG_LLM_MODEL and SYNTHRAL_RAG_LLM_API_KEY"
        )
    try:
        data = response.json()
        return str(data["choices"][0]["message"]["content"] or ""), str(data.get("model") or body["model"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise NonRetryableError(
            f"the LLM endpoint {endpoint.base_url} did not answer like an OpenAI chat completion; "
            "check SYNTHRAL_RAG_LLM_BASE_URL (it should end in /v1)"
        ) from None
