"""The crawl batch: concurrent pages, links and checksums, a byte budget that is never exceeded."""

from __future__ import annotations

from site_support import Site
from synthral_scrape_html.scrape import FetchPages

from synthral_sdk.testing import call

FAST = {"politeness": {"requests_per_second": 1000}}


def test_a_batch_comes_back_in_order_with_links_and_checksums(site: Site) -> None:
    urls = [f"{site.url}/page/{n}" for n in range(1, 6)] + [f"{site.url}/missing"]

    out = call(FetchPages(), {"urls": urls, "include": ["links", "text"]}, config=FAST)

    pages = out["pages"]
    assert [page["url"] for page in pages] == urls
    assert pages[0]["title"] == "Page 1" and pages[0]["text"] == "page 1 text\np2\np3\np1"
    assert f"{site.url}/page/2" in pages[0]["links"]
    assert pages[-1]["status"] == 404
    assert len({page["checksum"] for page in pages[:5]}) == 5
    assert out["budget_exhausted"] is False


def test_the_byte_budget_is_never_exceeded(site: Site) -> None:
    urls = [f"{site.url}/big", f"{site.url}/page/1", f"{site.url}/page/2"]

    out = call(FetchPages(), {"urls": urls, "byte_budget": 50_000}, config=FAST)

    assert sum(page["bytes"] for page in out["pages"]) <= 50_000
    assert out["budget_exhausted"] is True
    assert any(page["error_type"] == "BudgetExhausted" for page in out["pages"])
