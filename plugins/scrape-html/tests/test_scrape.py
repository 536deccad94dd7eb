"""The scrape node against a local site: content, links, metadata, tables, fields, healing, politeness."""

from __future__ import annotations

import socket

import pytest
from site_support import ARTICLE, Site
from synthral_scrape_html.scrape import Scrape

from synthral_sdk.errors import InputInvalid, NonRetryableError, RetryableError
from synthral_sdk.testing import call
from synthral_sdk.web import RobotsCache, RobotsDisallowed

FAST = {"politeness": {"requests_per_second": 1000, "backoff_s": 0}}


@pytest.fixture(autouse=True)
def _fresh_robots() -> None:
    RobotsCache.forget()


def test_an_article_comes_back_as_text_markdown_links_metadata_and_tables(site: Site) -> None:
    out = call(Scrape(), {"url": f"{site.url}/article"}, config=FAST)

    assert out["status"] == 200
    assert out["title"] == "Widgets for sale"
    assert "three colours" in out["text"] and "not text" not in out["text"]
    assert "small mechanical devices" in out["markdown"]
    links = {link["url"]: link["internal"] for link in out["links"]}
    assert links[f"{site.url}/page/1"] is True
    assert links["https://elsewhere.example/x"] is False
    assert out["metadata"]["description"] == "All about widgets"
    assert out["metadata"]["og:title"] == "Widgets OG"
    assert out["metadata"]["canonical"] == f"{site.url}/article"
    assert out["metadata"]["json_ld"] == [{"@type": "Product", "name": "Widget"}]
    assert out["tables"] == [
        {"headers": ["Size", "Weight"], "rows": [{"Size": "S", "Weight": "10 g"}, {"Size": "L", "Weight": "25 g"}]}
    ]
    assert len(out["checksum"]) == 64


def test_fields_by_css_xpath_attribute_and_soupsieve(site: Site) -> None:
    fields = {
        "headline": {"css": "h1#headline"},
        "price": {"css": ".price"},
        "currency": {"css": ".price", "attr": "data-currency"},
        "cells": {"xpath": "//td", "all": True},
        "bold": {"css": "p:-soup-contains('colours') b"},
    }
    out = call(Scrape(), {"url": f"{site.url}/article", "include": [], "fields": fields}, config=FAST)

    assert out["fields"] == {
        "headline": "The best widgets",
        "price": "19.99",
        "currency": "EUR",
        "cells": ["S", "10 g", "L", "25 g"],
        "bold": "three colours",
    }
    assert out["fingerprints"]["price"]["classes"] == ["price"]


def test_a_selector_that_stopped_matching_is_healed_from_the_remembered_element(site: Site) -> None:
    first = call(
        Scrape(), {"url": f"{site.url}/article", "include": [], "fields": {"price": {"css": "span.price"}}}, config=FAST
    )
    memory = {"price": first["fingerprints"]["price"]}

    out = call(
        Scrape(),
        {
            "url": f"{site.url}/healed",
            "include": [],
            "fields": {"price": {"css": "span.price"}},
            "selector_memory": memory,
        },
        config=FAST,
    )

    assert out["fields"]["price"] == "19.99"
    [healed] = out["healed"]
    assert healed["old_selector"] == "span.price" and healed["source"] == "structure"
    assert healed["selector"] == "em.amount"


def test_robots_txt_is_honoured_unless_switched_off(site: Site) -> None:
    with pytest.raises(RobotsDisallowed, match="disallows"):
        call(Scrape(), {"url": f"{site.url}/private/secret"}, config=FAST)

    out = call(
        Scrape(),
        {"url": f"{site.url}/private/secret", "include": ["text"]},
        config={"politeness": {"respect_robots": False, "requests_per_second": 1000}},
    )
    assert out["text"] == "secret"


def test_a_busy_page_is_retried_after_back_off(site: Site) -> None:
    out = call(Scrape(), {"url": f"{site.url}/flaky", "include": ["text"]}, config=FAST)

    assert out["text"] == "finally"
    assert site.hits["/flaky"] == 2


def test_redirects_are_followed_and_reported(site: Site) -> None:
    out = call(Scrape(), {"url": f"{site.url}/redirect", "include": []}, config=FAST)

    assert out["final_url"] == f"{site.url}/article"
    assert out["title"] == "Widgets for sale"


def test_a_page_over_the_byte_cap_is_cut(site: Site) -> None:
    config = {"politeness": {"max_page_bytes": 10_000, "requests_per_second": 1000}}
    out = call(Scrape(), {"url": f"{site.url}/big", "include": []}, config=config)

    assert out["truncated"] is True and out["bytes"] == 10_000


def test_bad_input_is_named(site: Site) -> None:
    with pytest.raises(InputInvalid, match="absolute http"):
        call(Scrape(), {"url": "ftp://example.com/x"}, config=FAST)
    with pytest.raises(InputInvalid, match=r"field 'bad'.*XPath"):
        call(Scrape(), {"url": site.url, "html": ARTICLE, "fields": {"bad": {"xpath": "//["}}})
    with pytest.raises(InputInvalid, match="exactly one of 'css' or 'xpath'"):
        call(Scrape(), {"url": site.url, "html": ARTICLE, "fields": {"bad": {}}})
    with pytest.raises(NonRetryableError, match="include has 'pdf'"):
        call(Scrape(), {"url": site.url, "html": ARTICLE, "include": ["pdf"]})
    with pytest.raises(NonRetryableError, match="not HTML"):
        call(Scrape(), {"url": f"{site.url}/image.png"}, config=FAST)


def test_a_server_that_does_not_answer_fails_retryably() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = {"politeness": {"retries": 1, "backoff_s": 0, "respect_robots": False}}
    with pytest.raises(RetryableError, match="could not be fetched in 2 attempts"):
        call(Scrape(), {"url": f"http://127.0.0.1:{port}/"}, config=config)


def test_a_site_that_keeps_blocking_is_retried_then_answered_as_is(site: Site) -> None:
    config = {"politeness": {"retries": 1, "backoff_s": 0, "requests_per_second": 1000}}
    out = call(Scrape(), {"url": f"{site.url}/captcha", "include": ["text"]}, config=config)
    assert out["status"] == 403  # still blocked after the retry: the answer comes back for the workflow to judge
    assert site.hits["/captcha"] == 2


def test_parts_named_in_remove_are_dropped_before_extraction(site: Site) -> None:
    payload = {"url": f"{site.url}/article", "include": ["text"], "remove": ["table", ".price-box"]}
    out = call(Scrape(), payload, config=FAST)

    assert "19.99" not in out["text"] and "Weight" not in out["text"]
    assert "three colours" in out["text"]
