"""Where a plugin's requests may go: the one SSRF policy every plugin that makes requests shares.

A workflow's inputs choose the URLs a plugin fetches, so without a policy anyone who can
edit a workflow could make the server fetch its own API on 127.0.0.1, a cloud metadata
endpoint on 169.254.169.254, or any machine of the private network behind it.

:class:`NetworkPolicy` decides on the *address* a connection goes to, after DNS resolution
(a name that resolves to a private address is refused like the address itself), for IPv4
and IPv6, with IPv4 addresses embedded in IPv6 ones (``::ffff:127.0.0.1``, NAT64, 6to4)
judged as the IPv4 address they carry. Refused unless allowed:

- loopback (127.0.0.0/8, ::1) — allowed in local mode (the desktop, ``serve --local``);
- link-local (169.254.0.0/16, fe80::/10), where cloud metadata services answer;
- private (10/8, 172.16/12, 192.168/16), shared (100.64/10) and unique-local (fc00::/7);
- unspecified, multicast, reserved and other addresses that are not globally routable.

An operator can allow more, per workspace: networks (``10.20.0.0/16``), single addresses,
host names (``wiki.corp.example``) or whole domains (``*.corp.example``).

A plugin's granted network permission (:mod:`synthral_sdk.permissions`) feeds the same
policy: :attr:`NetworkPolicy.hosts` lists the only hosts it may connect to, and an address
it was granted by number (``10.0.0.5:9000``) joins ``allow``. The host hands each call the
policy of its workspace and the plugin's grant (:attr:`synthral_sdk.Context.network`);
:mod:`synthral_sdk.http` makes httpx clients that apply it to every connection, redirects
included; in the OS sandbox the host's egress proxy applies it again, to every connection
the process makes. This module has no dependency beyond the standard library.

.. versionadded:: 1.5
.. versionchanged:: 1.9
   :attr:`NetworkPolicy.hosts`, the hosts a plugin was granted.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from synthral_sdk._json import JSONObject, JSONValue
from synthral_sdk.errors import EgressDenied

__all__ = ["EgressDenied", "NetworkPolicy", "blocked_reason", "host_matches", "parse_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SHARED: Final = ipaddress.ip_network("100.64.0.0/10")
_UNIQUE_LOCAL: Final = ipaddress.ip_network("fc00::/7")
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL: Final = ipaddress.ip_network("64:ff9b:1::/48")
_LABEL: Final = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME: Final = re.compile(rf"^(?:\*\.)?(?=.{{1,253}}$)(?:{_LABEL}\.)*{_LABEL}$")


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), else the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not publicly routable ("loopback", "link-local", ...), or None when it is."""
    address = _embedded_ipv4(address)
    checks: tuple[tuple[bool, str], ...] = (
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local (where cloud metadata services answer)"),
        (address.is_unspecified, "unspecified"),
        (address.is_multicast, "multicast"),
        (address in _SHARED, "shared (carrier-grade NAT)"),
        (address in _UNIQUE_LOCAL, "unique-local"),
        (address in _NAT64_LOCAL, "local-use NAT64"),
        (address.is_private, "private"),
        (not address.is_global, "reserved"),
    )
    for hit, reason in checks:
        if hit:
            return reason
    return None


def parse_host(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``*.domain``, ``1.2.3.4:8080`` or ``[::1]:8080`` as ``(host, port)``.

    Raises:
        ValueError: It is none of these; the message shows the forms.
    """
    raw = text.strip().lower()
    host, port_text = raw, ""
    if raw.startswith("["):
        end = raw.find("]")
        host, rest = raw[1:end], raw[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            host = ""
        port_text = rest[1:]
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    port: int | None = None
    if port_text:
        port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else -1
    try:
        ipaddress.ip_address(host)
        literal = True
    except ValueError:
        literal = False
    if not host or port == -1 or not (literal or _HOST_NAME.match(host)):
        raise ValueError(
            f"network entry {text[:100]!r} is not a host; write 'api.example.com', 'api.example.com:8443', "
            "'*.example.com' or an address such as '10.0.0.5:9000'"
        )
    return host, port


def host_matches(pattern: tuple[str, int | None], host: str, port: int | None) -> bool:
    """Whether ``host:port`` is one ``pattern`` (from :func:`parse_host`) names.

    A pattern without a port means the web's two, 80 and 443; ``port`` None matches any port.
    ``*.domain`` means the domain's subdomains, not the domain itself.
    """
    name, wanted = pattern
    if port is not None and ((wanted is None and port not in {80, 443}) or (wanted is not None and port != wanted)):
        return False
    target = host.lower().rstrip(".").strip("[]")
    if name.startswith("*."):
        return target.endswith(name[1:]) and target != name[2:]
    return target == name


def _parse_entry(entry: str) -> IPNetwork | str:
    text = entry.strip().lower()
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        pass
    if _HOST_NAME.match(text.rstrip(".")):
        return text.rstrip(".")
    raise ValueError(
        f"{entry[:200]!r} is not a network (10.20.0.0/16, fd00::/8), an address or a host name "
        "(wiki.corp.example, *.corp.example)"
    )


@dataclass(frozen=True)
class NetworkPolicy:
    """Which addresses a plugin's outgoing connections may reach.

    Attributes:
        allow_loopback: Whether loopback addresses (this machine) may be reached: true in
            local mode (the desktop, ``serve --local``, the CLI), false on a server.
        allow: What the operator allowed besides public addresses: networks and addresses
            (``10.20.0.0/16``, ``192.168.1.5``, ``fd00::/8``), host names
            (``wiki.corp.example``) and domains (``*.corp.example``, its subdomains).
        hosts: The only hosts connections may go to, from the plugin's granted network
            permission: ``host``, ``host:port``, ``*.domain``, addresses (without a port:
            80 and 443); ``None`` means any host (the addresses are judged all the same),
            ``()`` none at all.

    Raises:
        ValueError: An ``allow`` or ``hosts`` entry is none of these.
    """

    allow_loopback: bool = False
    allow: tuple[str, ...] = ()
    hosts: tuple[str, ...] | None = None
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)
    _domains: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _granted: tuple[tuple[str, int | None], ...] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = [_parse_entry(entry) for entry in self.allow]
        names = [item for item in parsed if isinstance(item, str)]
        object.__setattr__(self, "allow", tuple(self.allow))
        if self.hosts is not None:
            object.__setattr__(self, "hosts", tuple(self.hosts))
        granted = None if self.hosts is None else tuple(parse_host(entry) for entry in self.hosts)
        object.__setattr__(self, "_granted", granted)
        object.__setattr__(self, "_networks", tuple(item for item in parsed if not isinstance(item, str)))
        object.__setattr__(self, "_hosts", frozenset(name for name in names if not name.startswith("*.")))
        object.__setattr__(self, "_domains", tuple(name[1:] for name in names if name.startswith("*.")))

    @classmethod
    def server(cls, allow: Iterable[str] = ()) -> NetworkPolicy:
        """Public addresses only, plus ``allow`` (the default, and a server's policy)."""
        return cls(allow_loopback=False, allow=tuple(allow))

    @classmethod
    def local(cls, allow: Iterable[str] = ()) -> NetworkPolicy:
        """Public addresses and this machine, plus ``allow`` (the desktop's policy)."""
        return cls(allow_loopback=True, allow=tuple(allow))

    def to_wire(self) -> JSONObject:
        """The form the host sends in a call's context (``network``)."""
        wire: JSONObject = {"allowLoopback": self.allow_loopback, "allow": list(self.allow)}
        if self.hosts is not None:
            wire["hosts"] = list(self.hosts)
        return wire

    @classmethod
    def from_wire(cls, data: JSONValue) -> NetworkPolicy:
        """The policy a call's context carries; the server policy when it carries none or a malformed one.

        Malformed ``hosts`` mean no host at all: a policy read from the wire never allows more
        than it says.
        """
        if not isinstance(data, Mapping):
            return cls.server()
        loopback = data.get("allowLoopback") is True
        allow = data.get("allow")
        entries = tuple(item for item in allow if isinstance(item, str)) if isinstance(allow, list) else ()
        raw_hosts = data.get("hosts")
        hosts: tuple[str, ...] | None = None
        if raw_hosts is not None:
            hosts = tuple(item for item in raw_hosts if isinstance(item, str)) if isinstance(raw_hosts, list) else ()
        return _policy_from_wire(loopback, entries, hosts)

    def granted(self, host: str, port: int | None = None) -> bool:
        """Whether ``host`` (on ``port``; None: on any port) is among :attr:`hosts`, or any host may be reached."""
        if self._granted is None:
            return True
        return any(host_matches(pattern, host, port) for pattern in self._granted)

    def matches(self, host: str, port: int) -> bool:
        """The same as :meth:`granted` (an allow-list proxy's rule)."""
        return self.granted(host, port)

    def host_allowed(self, host: str) -> bool:
        """Whether the operator allowed this host name (whatever it resolves to)."""
        name = host.lower().rstrip(".")
        return name in self._hosts or any(name.endswith(domain) for domain in self._domains)

    def refusal(self, host: str, address: str | IPAddress) -> str | None:
        """Why a connection to ``host`` at ``address`` is refused, or None when it is allowed."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if self.host_allowed(host) or any(ip in network for network in self._networks):
            return None
        reason = blocked_reason(ip)
        if reason is None or (reason == "loopback" and self.allow_loopback):
            return None
        return reason

    def check_host(self, host: str, port: int | None = None) -> None:
        """Refuse a host the plugin was not granted, before anything is resolved.

        Raises:
            EgressDenied: ``host`` (on ``port``) is not among :attr:`hosts`; the message names the fix.
        """
        if self.granted(host, port):
            return
        target = host if port is None else f"{host}:{port}"
        granted = ", ".join(self.hosts or ()) or "none"
        raise EgressDenied(
            f"refused to connect to {target}: the plugin was granted network access to {granted} only. The "
            "plugin must declare the host in its synthral-plugin.toml (network) and be granted it at install",
            details={"host": host, "port": port, "reason": "not granted", "granted": list(self.hosts or ())},
        )

    def permitted(self, host: str, addresses: Sequence[str], *, port: int | None = None) -> list[str]:
        """The addresses ``host`` resolved to that may be reached, in order.

        ``port`` is checked against :attr:`hosts` (None: any port of a granted host).

        Raises:
            EgressDenied: None may; the message names the host, the address, why, and the fix.
        """
        self.check_host(host, port)
        allowed = [address for address in addresses if self.refusal(host, address) is None]
        if allowed:
            return allowed
        if not addresses:
            raise EgressDenied(f"{host} resolved to no address", details={"host": host})
        first = addresses[0]
        reason = self.refusal(host, first)
        where = host if host == first else f"{host} ({first})"
        raise EgressDenied(
            f"refused to connect to {where}: a {reason} address, which plugins may not reach unless allowed. "
            "Use a public address, or have the operator allow it for this workspace "
            "(SYNTHRAL_EGRESS_ALLOW, SYNTHRAL_EGRESS_ALLOW_<WORKSPACE>)",
            details={"host": host, "address": first, "reason": str(reason), "addresses": list(addresses)},
        )


@functools.lru_cache(maxsize=64)
def _policy_from_wire(loopback: bool, entries: tuple[str, ...], hosts: tuple[str, ...] | None) -> NetworkPolicy:
    """The policy of one call's context; a plugin's calls carry the same few, so each is parsed once.

    Policies are frozen, so calls share them.
    """
    if hosts:
        try:
            for entry in hosts:
                parse_host(entry)
        except ValueError:
            hosts = ()
    try:
        return NetworkPolicy(allow_loopback=loopback, allow=entries, hosts=hosts)
    except ValueError:
        return NetworkPolicy(allow_loopback=loopback, hosts=hosts)
