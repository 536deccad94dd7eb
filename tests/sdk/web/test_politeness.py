"""Politeness: robots.txt as RFC 9309 reads it, per-domain pace, back-off, block detection, User-Agents."""

from __future__ import annotations

import asyncio
import time

import pytest

from synthral_sdk.errors import EgressDenied, RobotsDisallowed
from synthral_sdk.web import DomainGate, DomainRules, Politeness, RobotsCache, UserAgents, backoff_delay, block_reason


def _check(robots: tuple[int, str], url: str) -> float | None:
    RobotsCache.forget()

    async def fetch(_: str) -> tuple[int, str]:
        return robots

    return asyncio.run(RobotsCache().check(url, "Mozilla/5.0", fetch))


def test_robots_rules_allow_disallow_and_set_a_crawl_delay() -> None:
    rules = (200, "User-agent: *\nDisallow: /private\nCrawl-delay: 2\n\nUser-agent: SynthralBot\nDisallow: /no-bots\n")
    assert _check((200, "User-agent: *\nDisallow: /private\nCrawl-delay: 2\n"), "https://a.example/ok") == 2.0
    with pytest.raises(RobotsDisallowed, match=r"disallows https://a\.example/private/x"):
        _check(rules, "https://a.example/private/x")
    with pytest.raises(RobotsDisallowed):
        _check(rules, "https://a.example/no-bots")


def test_a_missing_robots_txt_allows_all_and_an_unreachable_one_allows_nothing() -> None:
    assert _check((404, ""), "https://a.example/anything") is None
    with pytest.raises(RobotsDisallowed):
        _check((503, ""), "https://a.example/anything")


def test_a_site_the_network_policy_refuses_is_named_as_refused_not_as_disallowed_by_robots() -> None:
    RobotsCache.forget()

    async def fetch(url: str) -> tuple[int, str]:
        raise EgressDenied(f"{url}: 127.0.0.1 is loopback; allow it with SYNTHRAL_EGRESS_ALLOW")

    with pytest.raises(EgressDenied, match="loopback"):
        asyncio.run(RobotsCache().check("http://127.0.0.1:8080/page", "Mozilla/5.0", fetch))


def test_a_domain_profile_is_stricter_than_the_call_never_looser() -> None:
    politeness = Politeness(requests_per_second=10, concurrency_per_domain=8)

    assert DomainRules(domain="a", requests_per_second=2, concurrency=16).pace(politeness) == (2, 8)
    assert DomainRules(domain="a", max_requests_per_hour=360).pace(politeness) == (0.1, 8)


def test_the_gate_spaces_requests_to_one_domain_by_its_pace() -> None:
    async def main() -> float:
        gate = DomainGate.shared()
        started = time.monotonic()
        for _ in range(5):
            async with gate.slot("a.example", 50, 4):
                pass
        return time.monotonic() - started

    assert asyncio.run(main()) >= 4 / 50


def test_back_off_doubles_with_jitter_and_honours_retry_after() -> None:
    delays = [backoff_delay(n, 1.0) for n in (1, 2, 3)]
    assert 0.5 <= delays[0] <= 1.5 and 1 <= delays[1] <= 3 and 2 <= delays[2] <= 6
    assert backoff_delay(1, 1.0, "7") == 7 and backoff_delay(1, 1.0, "999") == 30


def test_blocks_are_told_apart_from_answers() -> None:
    assert block_reason(429) == "rate limited (429)"
    assert block_reason(403, b"<p>Please solve the CAPTCHA</p>") == "captcha"
    assert block_reason(403, b"nope") == "forbidden (403)"
    assert block_reason(200, b"<html>a long normal page</html>") is None


def test_user_agents_stick_per_domain_until_a_block() -> None:
    agents, politeness = UserAgents(), Politeness()
    first = agents.pick("a.example", politeness)

    assert agents.pick("a.example", politeness) == first
    agents.blocked("a.example")
    assert agents.pick("a.example", politeness) != first
    assert agents.pick("a.example", Politeness(user_agent="Mine/1.0")) == "Mine/1.0"
