"""The tool registry and the `tool` step activity."""

from activities.tools.registry import Tool, ToolContext, ToolRegistry

__all__ = ["Tool", "ToolContext", "ToolRegistry"]
