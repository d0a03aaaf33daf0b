"""Fetching URLs on behalf of users without letting them reach inside the network (SSRF).

Every connection, including each redirect hop, goes through `_GuardedBackend`, which resolves the
host itself, refuses the connection if any address it resolves to is not globally routable
(loopback, private, link-local, cloud metadata at 169.254.169.254, carrier-grade NAT, multicast,
reserved, IPv4-mapped IPv6 forms of those) and then connects to the address it checked, so a DNS
answer cannot change between the check and the connection. Because the check is on resolved
addresses, every spelling of an address is covered (`2130706433`, `0x7f.1`, `017700000001`,
`[::1]`). Operators may allow-list hosts or networks (`AIOS_FETCH_ALLOW`). Proxies from the
environment are ignored: a proxy would make the connection on our behalf, unchecked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from aios.errors import TransientError, UserError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchRefused(UserError):
    """The URL points somewhere AIOS will not go; the message says why."""


@dataclass(frozen=True)
class FetchPolicy:
    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()
    max_bytes: int = 10 * 1024 * 1024
    timeout_s: float = 20.0
    max_redirects: int = 5

    @classmethod
    def from_allow_list(cls, entries: Iterable[str], **limits: Any) -> FetchPolicy:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower())
        return cls(allow_hosts=frozenset(hosts), allow_networks=tuple(networks), **limits)

    def check(self, host: str, address: IPAddress) -> None:
        if host.lower() in self.allow_hosts:
            return
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allow_networks):
            return
        if not address.is_global or address.is_multicast:
            raise FetchRefused(
                f"refusing to fetch from {host}: it resolves to {address}, which is not a public "
                "address (loopback, private, link-local and metadata addresses are refused; an "
                "operator can allow-list hosts or networks with AIOS_FETCH_ALLOW)"
            )


async def checked_address(host: str, port: int, policy: FetchPolicy) -> str:
    """The address to connect to for `host`: it resolves, and every address it resolves to
    passes `policy` (not just the one used); FetchRefused otherwise."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise FetchRefused(f"cannot resolve {host}: {e.strerror}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for address in addresses:
        policy.check(host, address)
    return str(addresses[0])


@dataclass
class _GuardedBackend(httpcore.AsyncNetworkBackend):
    policy: FetchPolicy
    inner: httpcore.AsyncNetworkBackend = field(default_factory=httpcore.AnyIOBackend)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await checked_address(host, port, self.policy)
        return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise FetchRefused("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content: bytes
    content_type: str | None


# Called with each request's URL before it is sent, redirect hops included (robots.txt checks).
HopCheck = Callable[[httpx.URL], Awaitable[None]]


def _guarded_client(policy: FetchPolicy, check_hop: HopCheck | None = None) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(retries=0)
    # httpx builds its connection pool without a way to pass a network backend; this is the
    # pool's documented constructor argument, set after the fact.
    transport._pool._network_backend = _GuardedBackend(policy)

    async def only_http(request: httpx.Request) -> None:
        if request.url.scheme not in {"http", "https"}:
            raise FetchRefused(f"only http and https URLs are fetched, not {request.url.scheme}")
        if check_hop is not None:
            await check_hop(request.url)

    return httpx.AsyncClient(
        transport=transport,
        trust_env=False,
        follow_redirects=True,
        max_redirects=policy.max_redirects,
        timeout=httpx.Timeout(policy.timeout_s),
        headers={"User-Agent": "AIOS/0.1 (+https://github.com/aios)"},
        event_hooks={"request": [only_http]},
    )


async def safe_fetch(
    url: str, policy: FetchPolicy, *, check_hop: HopCheck | None = None
) -> Fetched:
    """GET `url` under `policy`: refused (non-retryable) for addresses it will not reach and for
    bodies over the size limit; transient for network trouble. `check_hop` may refuse any URL of
    the redirect chain by raising."""
    return await safe_request("GET", url, policy, check_hop=check_hop)


async def safe_request(
    method: str,
    url: str,
    policy: FetchPolicy,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    check_hop: HopCheck | None = None,
) -> Fetched:
    """One request under `policy` (see `safe_fetch`); redirects are followed for GET only."""
    parsed = httpx.URL(url)
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise UserError(f"{url!r} is not an http(s) URL")
    try:
        async with (
            asyncio.timeout(policy.timeout_s),
            _guarded_client(policy, check_hop) as client,
            client.stream(
                method, url, json=json, headers=headers, follow_redirects=method == "GET"
            ) as response,
        ):
            if response.status_code >= 400:
                error = UserError if response.status_code < 500 else TransientError
                raise error(f"{url} answered HTTP {response.status_code}")
            declared = int(response.headers.get("content-length") or 0)
            if declared > policy.max_bytes:
                raise UserError(f"{url} is larger than {policy.max_bytes} bytes")
            body = bytearray()
            async for piece in response.aiter_bytes():
                body += piece
                if len(body) > policy.max_bytes:
                    raise UserError(f"{url} is larger than {policy.max_bytes} bytes")
            return Fetched(str(response.url), bytes(body), response.headers.get("content-type"))
    except httpx.TooManyRedirects:
        raise UserError(f"{url}: more than {policy.max_redirects} redirects") from None
    except TimeoutError:
        raise TransientError(f"{url}: no complete answer within {policy.timeout_s:g}s") from None
    except httpx.TransportError as e:
        raise TransientError(f"{url}: {e}") from e
