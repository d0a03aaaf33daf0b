"""An MCP server made with the `mcp` package, for AIOS's MCP client tests: over stdio when run
as a module, over streamable HTTP through `http_app()`."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

peer = MCPServer(name="peer")


@peer.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@peer.tool()
def lookup(city: str) -> dict[str, Any]:
    """The weather in a city (made up)."""
    if city == "Atlantis":
        raise ToolError("no such city")
    return {"city": city, "forecast": "sunny"}


# What the write tools did (the HTTP peer runs in the test's process, so tests read these).
WRITES: list[str] = []
BOOKINGS: dict[str, str] = {}


@peer.tool()
def record(note: str) -> str:
    """Record a note (a write that takes no idempotency key)."""
    WRITES.append(note)
    return f"recorded {note}"


@peer.tool()
def book(item: str, idempotency_key: str) -> str:
    """Book an item, once per idempotency key."""
    BOOKINGS.setdefault(idempotency_key, item)
    return f"booked {BOOKINGS[idempotency_key]}"


def http_app() -> Any:
    from mcp.server.transport_security import TransportSecuritySettings

    return peer.streamable_http_app(
        stateless_http=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


if __name__ == "__main__":
    peer.run()
