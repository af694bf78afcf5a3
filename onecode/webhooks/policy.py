"""Where onecode may send a webhook (SSRF policy), in one place for the API and the worker.

1. The URL is ``https`` (``http`` only with ``webhooks_allow_http``), has a host, and no
   user name or password.
2. The host is on the admin's allow-list (``webhook_hosts``): an exact host, or
   ``*.example.org`` for the hosts below example.org.
3. Every address the host resolves to is a global unicast address: never loopback,
   private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, where cloud
   metadata lives), CGNAT, multicast or reserved. ``webhooks_allow_loopback`` admits
   loopback (tests, local development) and nothing else.
4. The worker connects to the address it checked (the TLS name stays the host), so a DNS
   answer that changes between the check and the connection cannot move the request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from onecode.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(ValueError):
    """The URL or its host is not one onecode may send to; ``code`` says why."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True, slots=True)
class Target:
    """A checked destination: connect to ``address``, speak to ``host``."""

    url: str
    host: str
    port: int
    address: str
    scheme: str

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        parts = urlsplit(self.url)
        netloc = f"[{self.address}]" if ":" in self.address else self.address
        netloc += f":{self.port}"
        return parts._replace(netloc=netloc).geturl()

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(url: str, settings: Settings) -> SplitResult:
    """Rule 1; returns the parts with a lower-case host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("The URL does not parse.", "webhooks.bad_url") from None
    schemes = {"https", "http"} if settings.webhooks_allow_http else {"https"}
    if parts.scheme not in schemes:
        raise Refused(
            "The URL must be https." if "http" not in schemes else "The URL must be http(s).",
            "webhooks.bad_url",
        )
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise Refused("The URL needs a host and no user or password.", "webhooks.bad_url")
    if port == 0:
        raise Refused("The URL's port is not valid.", "webhooks.bad_url")
    return parts


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Rule 2: ``host`` (lower case) is listed, or falls under a listed ``*.`` domain."""
    host = host.rstrip(".").lower()
    for entry in allowed:
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and len(host) > len(entry) - 1:
                return True
        elif host == entry:
            return True
    return False


def address_allowed(address: IPAddress, settings: Settings) -> bool:
    """Rule 3 for one address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return settings.webhooks_allow_loopback
    return address.is_global and not address.is_multicast


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_url(url: str, allowed: Iterable[str], settings: Settings) -> SplitResult:
    """Rules 1 and 2, and rule 3 for a host given as an address (no DNS): for the API."""
    parts = parse_url(url, settings)
    host = parts.hostname or ""
    if not host_allowed(host, allowed):
        raise Refused(
            f"The host {host!r} is not on the admin's webhook allow-list.",
            "webhooks.host_not_allowed",
        )
    literal = ip_literal(host)
    if literal is not None and not address_allowed(literal, settings):
        raise Refused(
            "Webhooks never go to loopback, private or reserved addresses.",
            "webhooks.address_not_allowed",
        )
    return parts


async def resolve(url: str, allowed: Iterable[str], settings: Settings) -> Target:
    """All four rules, with DNS: the worker's check before each attempt."""
    parts = check_url(url, allowed, settings)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    literal = ip_literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise Refused(f"The host does not resolve: {exc}", "webhooks.dns") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses or not all(address_allowed(a, settings) for a in addresses):
        raise Refused(
            "The host resolves to a loopback, private or reserved address.",
            "webhooks.address_not_allowed",
        )
    return Target(url=url, host=host, port=port, address=str(addresses[0]), scheme=parts.scheme)
