"""The ``extract`` node: fields described in words, filled by a language model from the page."""

from __future__ import annotations

import json
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from selectolax.lexbor import LexborHTMLParser

from synthral_sdk import Context, Node
from synthral_sdk.errors import NonRetryableError
from synthral_sdk.web import DomainRules, Fetcher, LLMEndpoint, Politeness, ProxyPool, ask_json, network_of

__all__ = ["Extract"]

PROXY_SECRET: Final = "proxies"  # noqa: S105 -- a secret slot name
LLM_SECRET: Final = "llm_api_key"  # noqa: S105 -- a secret slot name
_SYSTEM: Final = (
    "You extract data from web pages. Answer with one JSON object whose keys are exactly the requested fields. "
    "Use null for a field the page does not contain. Never invent values."
)


class ExtractConfig(BaseModel):
    """Which model, and how to fetch."""

    model_config = ConfigDict(extra="forbid")

    llm: LLMEndpoint | None = Field(
        default=None, description="An OpenAI-compatible endpoint; the host's LLM when unset."
    )
    model: str = Field(default="", description="The model to ask the host for; the step's default when empty.")
    max_chars: int = Field(default=24_000, ge=1000, le=400_000, description="Page text sent to the model at most.")
    politeness: Politeness = Field(default_factory=Politeness)


class ExtractInput(BaseModel):
    """A page and the fields to find in it, each described in words."""

    model_config = ConfigDict(extra="forbid")

    url: str
    html: str | None = Field(default=None, description="Use this HTML instead of fetching the URL.")
    fields: dict[str, str] = Field(min_length=1, max_length=100, description="Field name → what it is, in words.")
    instructions: str = Field(default="", max_length=4000, description="Anything else the model should know.")
    domain_profiles: list[DomainRules] = Field(default_factory=list)


class ExtractOutput(BaseModel):
    """The fields, and which ones the model could not find."""

    url: str
    fields: dict[str, JsonValue]
    missing: list[str]
    chars_sent: int
    truncated: bool


def page_text(html: str, max_chars: int) -> tuple[str, bool]:
    """The page's title, visible text and links, cut at ``max_chars``."""
    tree = LexborHTMLParser(html)
    tree.strip_tags(["script", "style", "noscript", "template", "svg"])
    title = tree.css_first("title")
    body = tree.body or tree.root
    lines = [f"Title: {title.text(strip=True)}"] if title is not None else []
    if body is not None:
        lines += [line.strip() for line in body.text(separator="\n").splitlines() if line.strip()]
        lines += [f"[link] {a.text(strip=True)} -> {a.attributes.get('href')}" for a in body.css("a[href]")][:200]
    text = "\n".join(lines)
    return text[:max_chars], len(text) > max_chars


class Extract(Node[ExtractInput, ExtractOutput, ExtractConfig]):
    """Describe fields in words; a language model reads the page and fills them."""

    name = "extract"
    title = "Extract with an LLM"
    secrets = (PROXY_SECRET, LLM_SECRET)

    async def run(self, inputs: ExtractInput, config: ExtractConfig, context: Context) -> ExtractOutput:
        """Fetch, reduce to text, ask, check the answer's keys."""
        pool = ProxyPool.shared(context.secrets[PROXY_SECRET]) if context.secrets.get(PROXY_SECRET) else None
        profiles = {rules.domain: rules for rules in inputs.domain_profiles}
        async with Fetcher(
            config.politeness, network=network_of(context), proxies=pool, profiles=profiles, log=context.log
        ) as fetcher:
            if inputs.html is None:
                page = await fetcher.fetch(inputs.url)
                if not page.ok:
                    raise NonRetryableError(
                        f"{inputs.url} answered {page.status}; nothing to extract from", details={"status": page.status}
                    )
                html = page.text()
            else:
                html = inputs.html
            text, truncated = page_text(html, config.max_chars)
            wanted = json.dumps(inputs.fields, ensure_ascii=False, indent=1)
            messages = [
                {"role": "system", "content": _SYSTEM},
                {
                    "role": "user",
                    "content": f"Fields (name: description):\n{wanted}\n\n{inputs.instructions}\n\n"
                    f"Page {inputs.url}:\n{text}",
                },
            ]
            answer = await ask_json(
                context,
                messages,
                endpoint=config.llm,
                client=fetcher._client(None) if config.llm else None,  # noqa: SLF001 -- the policy-checked pool
                api_key=context.secrets.get(LLM_SECRET),
                model=config.model,
            )
        fields = {name: answer.get(name) for name in inputs.fields}
        dropped = sorted(set(answer) - set(inputs.fields))
        if dropped:
            context.log.info("the model answered fields nobody asked for, dropped: %s", ", ".join(dropped[:20]))
        missing = [name for name, value in fields.items() if value in (None, "", [])]
        return ExtractOutput(url=inputs.url, fields=fields, missing=missing, chars_sent=len(text), truncated=truncated)
