"""The tool registry and the `tool` step activity."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from activities.tools.builtin import register_builtin_tools
from activities.tools.http_tools import load_tool_file
from activities.tools.mcp_tools import discover, server_configs
from activities.tools.registry import Tool, ToolContext, ToolRegistry
from aios.config import Settings

__all__ = ["Tool", "ToolContext", "ToolRegistry", "build_registry"]


def build_registry(
    plugins: str = "", tool_files: Sequence[str | Path] = (), settings: Settings | None = None
) -> ToolRegistry:
    """The registry every process builds the same way: built-in tools, the HTTP tools declared
    in AIOS_TOOL_FILES, then the plugins named in AIOS_TOOL_PLUGINS. The worker executes these
    tools; the API reads their schemas and policies. With `settings`, the registry knows which
    tools can run (a web search provider configured) and offers only those to planners."""
    registry = ToolRegistry(settings)
    register_builtin_tools(registry)
    for path in tool_files:
        registry.register(*load_tool_file(Path(path)))
    registry.load_plugins(plugins)
    return registry


async def add_mcp_tools(registry: ToolRegistry, servers: dict[str, Any]) -> None:
    """The tools of the configured MCP servers (those that answer), as `<server>.<tool>`."""
    if servers:
        registry.register(*await discover(server_configs(servers)))
