"""The layer every scraping and browser plugin shares: politeness, proxies, dedup, healing, browser egress.

- :class:`Politeness`, :class:`Fetcher`: robots.txt by default (switchable per workflow, with a
  warning), per-domain pace and concurrency, retries with back-off, User-Agent rotation, a
  byte cap per page, and every hop checked against the call's network policy.
- :class:`ProxyPool`: HTTP and SOCKS proxies from a credential, rotated, rested when they fail,
  sticky per domain, every use logged as a :class:`ProxyEvent` for the host's ProxyLog.
- :func:`content_checksum`, :func:`text_diff`, :class:`NoiseFilters`: deduplication and change
  detection.
- :func:`propose_selector`: self-healing selectors from an element's remembered fingerprint.
- :class:`EgressProxy`, :class:`ManagedBrowser`: a browser whose every request goes through a
  policy-checking proxy, killed at its memory and time limits.

.. versionadded:: 1.6
"""

from __future__ import annotations

from synthral_sdk.context import Context
from synthral_sdk.errors import BrowserKilled, NoHealthyProxy, RobotsDisallowed
from synthral_sdk.web._actions import ActionResult, BrowserAction, run_action
from synthral_sdk.web._browser import (
    CHROMIUM_FLAGS,
    BrowserLimits,
    ChromiumProcess,
    browser_processes,
    chromium_path,
    kill_browsers,
)
from synthral_sdk.web._content import NoiseFilters, content_checksum, filter_noise, normalize_text, text_diff
from synthral_sdk.web._egress_proxy import EgressProxy, Refusal
from synthral_sdk.web._fetch import AddressPolicy, Fetched, Fetcher, require_http_url
from synthral_sdk.web._healing import (
    Element,
    Fingerprint,
    SelectorProposal,
    fingerprint_of,
    parse_tree,
    propose_selector,
    select,
)
from synthral_sdk.web._llm import LLMEndpoint, ask_json, chat_json
from synthral_sdk.web._playwright import ManagedBrowser
from synthral_sdk.web._politeness import (
    USER_AGENTS,
    DomainGate,
    DomainRules,
    Politeness,
    RobotsCache,
    UserAgents,
    backoff_delay,
    block_reason,
    domain_of,
)
from synthral_sdk.web._proxies import Proxy, ProxyEvent, ProxyPool, parse_proxy_list


def network_of(context: Context) -> AddressPolicy | None:
    """The call's network policy, which every request of a scraping or browser plugin obeys."""
    policy = getattr(context, "network", None)
    return policy if hasattr(policy, "permitted") else None


__all__ = [
    "CHROMIUM_FLAGS",
    "USER_AGENTS",
    "ActionResult",
    "AddressPolicy",
    "BrowserAction",
    "BrowserKilled",
    "BrowserLimits",
    "ChromiumProcess",
    "DomainGate",
    "DomainRules",
    "EgressProxy",
    "Element",
    "Fetched",
    "Fetcher",
    "Fingerprint",
    "LLMEndpoint",
    "ManagedBrowser",
    "NoHealthyProxy",
    "NoiseFilters",
    "Politeness",
    "Proxy",
    "ProxyEvent",
    "ProxyPool",
    "Refusal",
    "RobotsCache",
    "RobotsDisallowed",
    "SelectorProposal",
    "UserAgents",
    "ask_json",
    "backoff_delay",
    "block_reason",
    "browser_processes",
    "chat_json",
    "chromium_path",
    "content_checksum",
    "domain_of",
    "filter_noise",
    "fingerprint_of",
    "kill_browsers",
    "network_of",
    "normalize_text",
    "parse_proxy_list",
    "parse_tree",
    "propose_selector",
    "require_http_url",
    "run_action",
    "select",
    "text_diff",
]
