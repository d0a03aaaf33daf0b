"""Which task queue each activity runs on, when a deployment splits its workers by queue.

Workflows stay on the agent queue (`AIOS_TASK_QUEUE`); model calls can go to an LLM queue
(`AIOS_LLM_TASK_QUEUE`) and tool calls, retrieval and memory to a tools queue
(`AIOS_TOOL_TASK_QUEUE`), so each pool scales on its own backlog. A run carries the mapping in its
input (workflows read no settings); with none, everything runs on the agent queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from aios.vocabulary import Activity


class QueueGroup(StrEnum):
    LLM = "llm"
    TOOLS = "tools"


GROUP_OF: dict[str, QueueGroup] = {
    Activity.PLAN_RUN: QueueGroup.LLM,
    Activity.LLM_COMPLETE: QueueGroup.LLM,
    Activity.AGENT_TURN: QueueGroup.LLM,
    Activity.INVOKE_TOOL: QueueGroup.TOOLS,
    Activity.RETRIEVE: QueueGroup.TOOLS,
    Activity.MEMORY: QueueGroup.TOOLS,
    Activity.RESEARCH_NOTES: QueueGroup.TOOLS,
}


def queue_for(activity: str, queues: Mapping[str, str]) -> str | None:
    """The queue for `activity` under `queues` (group -> queue); None: the workflow's own."""
    group = GROUP_OF.get(activity)
    return queues.get(group) if group is not None else None
