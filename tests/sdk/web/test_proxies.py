"""The proxy pool: parsing, rotation, stickiness per domain, resting failing proxies, health checks."""

from __future__ import annotations

import asyncio

import pytest

from synthral_sdk.errors import ConfigurationError, NoHealthyProxy
from synthral_sdk.web import Proxy, ProxyPool, parse_proxy_list

TEXT = "http://u:secret@p1.example:8080\nsocks5://p2.example:1080, https://p3.example"


def test_a_credentials_list_of_proxies_is_parsed_without_showing_passwords() -> None:
    proxies = parse_proxy_list(TEXT)

    assert [p.label for p in proxies] == [
        "http://p1.example:8080",
        "socks5://p2.example:1080",
        "https://p3.example:8080",
    ]
    assert proxies[0].username == "u" and proxies[0].password == "secret"
    assert len({p.id for p in proxies}) == 3 and all("secret" not in p.id + p.label for p in proxies)


def test_a_bad_entry_is_named_by_position_never_by_content() -> None:
    with pytest.raises(ConfigurationError, match=r"proxy #2 .* is not a proxy URL") as caught:
        parse_proxy_list("http://p1.example:1\nftp://user:hunter2@p2.example")
    assert "hunter2" not in caught.value.message


def test_a_domain_sticks_to_its_proxy_and_other_domains_rotate() -> None:
    pool = ProxyPool(parse_proxy_list(TEXT))

    first = pool.choose("a.example")
    assert pool.choose("a.example") == first
    assert pool.choose("b.example") != first


def test_a_failing_proxy_rests_and_its_domains_move_on() -> None:
    pool = ProxyPool(parse_proxy_list(TEXT), max_failures=2, rest_s=60)
    bad = pool.choose("a.example")
    for _ in range(2):
        pool.report(bad, "a.example", status_code=0, ok=False, latency_ms=5, block_reason="no answer")

    assert not pool.healthy(bad)
    assert all(pool.choose(f"d{n}.example") != bad for n in range(6))
    events = pool.drain()
    assert [e.ok for e in events] == [False, False] and events[0].proxy == bad.label
    assert pool.drain() == []


def test_when_every_proxy_rests_the_error_says_when_to_retry() -> None:
    pool = ProxyPool(parse_proxy_list("http://only.example:1"), max_failures=1, rest_s=30)
    only = pool.choose("x")
    pool.report(only, "x", status_code=503, ok=False, latency_ms=1)

    with pytest.raises(NoHealthyProxy, match="all 1 proxies are resting") as caught:
        pool.choose("x")
    assert caught.value.retryable and 1 <= caught.value.details["retry_after"] <= 30


def test_health_checks_rest_the_dead_and_revive_the_living() -> None:
    pool = ProxyPool(parse_proxy_list(TEXT))

    async def probe(proxy: Proxy) -> bool:
        if proxy.host == "p2.example":
            raise OSError("refused")
        return True

    results = asyncio.run(pool.check_health(probe))

    assert results == {
        "http://p1.example:8080": True,
        "socks5://p2.example:1080": False,
        "https://p3.example:8080": True,
    }
    assert [pool.healthy(p) for p in pool.proxies] == [True, False, True]


def test_one_pool_per_credential_lives_as_long_as_the_process() -> None:
    assert ProxyPool.shared(TEXT) is ProxyPool.shared(TEXT)
    assert ProxyPool.shared(TEXT) is not ProxyPool.shared("http://other.example:1")
