"""The tool registry and the `tool` step activity."""

from activities.tools.builtin import register_builtin_tools
from activities.tools.registry import Tool, ToolContext, ToolRegistry

__all__ = ["Tool", "ToolContext", "ToolRegistry", "build_registry"]


def build_registry(plugins: str = "") -> ToolRegistry:
    """The registry every process builds the same way: built-in tools, then the plugins named in
    AIOS_TOOL_PLUGINS. The worker executes these tools; the API only reads their schemas."""
    registry = ToolRegistry()
    register_builtin_tools(registry)
    registry.load_plugins(plugins)
    return registry
