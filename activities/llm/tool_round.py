"""One round of a tool-using model loop, the one code path of an agent step's turns
(`aios.agent_turn`) and a chat's rounds (`aios.chat_step`): `ToolOffer` is the registry's tools as
one model call sees them (provider-safe names both ways, results fenced as data), `model_round`
sends the conversation so far and returns the model's answer or its tool calls."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from activities import context
from activities.llm.base import LLMRequest, LLMResponse, Message
from activities.llm.caller import CallOutcome, ModelCaller
from activities.tools.registry import ToolRegistry
from aios.models import ToolSchema
from aios.stores.deltas import DeltaPublisher

# A tool result longer than this is cut before it goes back to the model.
MAX_TOOL_RESULT_CHARS = 8_000


def wire_names(names: list[str]) -> dict[str, str]:
    """A provider-safe, unique name for each tool name."""
    wire: dict[str, str] = {}
    for name in names:
        candidate = re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:60]
        while candidate in wire.values():
            candidate += "_"
        wire[name] = candidate
    return wire


def _renamed_calls(message: Message, names: dict[str, str]) -> Message:
    if not message.tool_calls:
        return message
    calls = [c.model_copy(update={"name": names.get(c.name, c.name)}) for c in message.tool_calls]
    return message.model_copy(update={"tool_calls": calls})


@dataclass
class ToolOffer:
    """Registry tools as one model call sees them (the agent step's turns and chat): names safe
    for every provider both ways, and tool results fenced as data with a tag drawn per call."""

    schemas: list[ToolSchema]
    wire: dict[str, str]
    fence: str = field(default_factory=context.new_fence)

    @classmethod
    def of(cls, registry: ToolRegistry, names: list[str]) -> ToolOffer:
        # Providers take tool names of [a-zA-Z0-9_-] only; MCP tools are `server.tool`.
        wire = wire_names(names)
        schemas = []
        for name in names:
            spec = registry.get(name).spec()
            schemas.append(
                ToolSchema(
                    name=wire[name], description=spec.description, input_schema=spec.input_schema
                )
            )
        return cls(schemas, wire)

    def system(self, message: Message) -> Message:
        """The system message, told how tool results are fenced."""
        notice = context.tool_result_notice(self.fence)
        return message.model_copy(update={"content": message.content + "\n" + notice})

    def history(self, conversation: list[Message]) -> list[Message]:
        """Earlier tool requests under their wire names, tool results cut and fenced."""
        return [
            m.model_copy(
                update={
                    "content": context.fence_tool_result(
                        m.content[:MAX_TOOL_RESULT_CHARS], self.fence
                    )
                }
            )
            if m.role == "tool"
            else _renamed_calls(m, self.wire)
            for m in conversation
        ]

    def transcript(self, conversation: list[Message]) -> str:
        """The tool calls so far and their fenced results as plain text: for a last round that
        offers no tools (providers refuse tool messages in a request that declares no tools)."""
        results = {m.tool_call_id: m.content for m in conversation if m.role == "tool"}
        lines = ["Tool calls made for this question, with their results:"]
        for message in conversation:
            for call in message.tool_calls:
                result = results.get(call.id, "(no result)")[:MAX_TOOL_RESULT_CHARS]
                lines.append(f"- {call.name}({json.dumps(call.arguments, default=str)}):")
                lines.append(context.fence_tool_result(result, self.fence))
        lines.append("No more tools are available: answer now.")
        return "\n".join(lines)

    def answer(self, response: LLMResponse) -> Message:
        """The model's message, its tool calls under the registry's names again."""
        back = {v: k for k, v in self.wire.items()}
        message = Message(
            role="assistant", content=response.text.strip(), tool_calls=response.tool_calls
        )
        return _renamed_calls(message, back)


@dataclass
class ModelRound:
    """One round of a tool-using loop as the model answered it."""

    outcome: CallOutcome
    # The model's message (its text stripped), tool calls under the registry's names again.
    message: Message
    # Whether it asks for tool calls (only when tools were offered).
    asks: bool


async def model_round(
    caller: ModelCaller,
    tier: str,
    offer: ToolOffer,
    *,
    system: Message,
    question: Message,
    conversation: list[Message],
    earlier: list[Message] | None = None,
    offering: bool = True,
    max_tokens: int,
    temperature: float,
    deltas: DeltaPublisher,
) -> ModelRound:
    """One model round of a tool-using loop, the one code path of the agent step's turns
    (`aios.agent_turn`) and the chat's rounds (`aios.chat_step`): the opening (`system`, then
    `earlier` conversation, then `question`) and the loop's `conversation` so far (tool requests
    and their fenced results) go to the model, which answers or asks for tool calls. A round that
    offers no tools (a chat turn's last) gets the tool results as text instead: providers refuse
    tool messages in a request that declares no tools. The text streams to `deltas`."""
    before = earlier or []
    if offering:
        messages = [offer.system(system), *before, question, *offer.history(conversation)]
    elif conversation:
        transcript = question.content + "\n\n" + offer.transcript(conversation)
        question = question.model_copy(update={"content": transcript})
        messages = [offer.system(system), *before, question]
    else:
        messages = [system, *before, question]
    request = LLMRequest(
        model="",
        messages=messages,
        max_tokens=max_tokens,
        temperature=temperature,
        tools=offer.schemas,
    )
    outcome = await caller.call(tier, request, deltas)
    await deltas.finish()
    response = outcome.response
    return ModelRound(outcome, offer.answer(response), asks=offering and bool(response.tool_calls))
