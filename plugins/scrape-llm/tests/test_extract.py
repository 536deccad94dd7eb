"""Extraction against the SDK's OpenAI stand-in (an endpoint) and its scripted host (the host's LLM)."""

from __future__ import annotations

import json

import pytest
from synthral_scrape_llm.extract import Extract

from synthral_sdk.errors import ConfigurationError, NonRetryableError
from synthral_sdk.testing import call
from synthral_sdk.testing_llm import OpenAIStandIn, Reply, ScriptedHost

PAGE = """<html><head><title>Acme Widget</title></head><body><h1>Acme Widget</h1>
<p>Price: 19.99 EUR. In stock. Made in Lyon.</p><script>var x = "hidden";</script>
<a href="/contact">Contact us</a></body></html>"""
FIELDS = {
    "name": "the product's name",
    "price": "the price as a number",
    "origin": "where it is made",
    "sku": "the SKU",
}


def test_fields_come_from_an_openai_compatible_endpoint() -> None:
    with OpenAIStandIn() as llm:
        llm.script(Reply.json({"name": "Acme Widget", "price": 19.99, "origin": "Lyon", "sku": None, "extra": 1}))
        out = call(
            Extract(),
            {"url": "https://shop.example/w", "html": PAGE, "fields": FIELDS},
            config={"llm": {"base_url": f"{llm.url}/v1", "model": "gpt-test"}},
            secrets={"llm_api_key": "sk-test"},
        )
        request = llm.requests[0]

    assert out["fields"] == {"name": "Acme Widget", "price": 19.99, "origin": "Lyon", "sku": None}
    assert out["missing"] == ["sku"]
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["response_format"] == {"type": "json_object"}
    prompt = request.body["messages"][1]["content"]
    assert "Price: 19.99 EUR" in prompt and "hidden" not in prompt and "[link] Contact us -> /contact" in prompt


def test_without_an_endpoint_the_hosts_llm_is_asked() -> None:
    with OpenAIStandIn() as llm:
        llm.script(Reply(json.dumps({"name": "Acme Widget", "price": 19.99, "origin": "Lyon", "sku": "A-1"})))
        host = ScriptedHost(llm)
        out = call(Extract(), {"url": "https://shop.example/w", "html": PAGE, "fields": FIELDS}, host=host)

    assert out["missing"] == [] and out["fields"]["sku"] == "A-1"
    assert host.completions[0].response_format is not None


def test_no_llm_at_all_is_a_configuration_error_naming_both_fixes() -> None:
    with pytest.raises(ConfigurationError, match="set the config's llm"):
        call(Extract(), {"url": "https://shop.example/w", "html": PAGE, "fields": FIELDS})


def test_an_answer_that_is_not_json_is_named() -> None:
    with OpenAIStandIn() as llm:
        llm.script(Reply("the price is 19.99"))
        with pytest.raises(NonRetryableError, match="not a JSON object"):
            call(
                Extract(),
                {"url": "https://shop.example/w", "html": PAGE, "fields": FIELDS},
                config={"llm": {"base_url": f"{llm.url}/v1", "model": "gpt-test"}},
            )
