"""Model-calling activities: the `llm` step and one turn of an `agent` step.

Every call goes through `ModelCaller`, the one place that
- refuses a call that could take the run over its budget (tokens or dollars), before making it;
- validates structured output against its JSON schema and, when it does not fit, gives the model
  one repair round with the validation message;
- escalates from the `fast` tier to `strong` when the repair round did not help or the model
  refused;
- on the step's last attempt, moves to the fallback model (AIOS_MODEL_FALLBACK) when the
  provider is out.
Each escalation and fallback is returned as a `RoutingNote`; the workflow records it as an event.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import jsonschema
from pydantic import BaseModel, Field
from temporalio import activity

from activities import context
from activities.common import classified, parse_args
from activities.llm.base import DeltaSink, LLMProvider, LLMRequest, LLMResponse, Message
from activities.llm.router import ModelRouter
from activities.tools.registry import ToolRegistry
from aios import telemetry
from aios.errors import BadModelOutput, BudgetExceeded, ModelRefused, TransientError
from aios.guardrails import guard_answer
from aios.models import (
    AgentTurnInput,
    AgentTurnResult,
    Budget,
    RoutingNote,
    StepInput,
    StepResult,
    ToolSchema,
    Usage,
)
from aios.stores.deltas import DeltaPublisher
from aios.vocabulary import Activity

UNGROUNDED_NOTE = (
    "_The knowledge base has no documents on this, so this answer is not grounded in any source; "
    "add documents with `aios ingest`._"
)
# An instruction is a prompt, not a document: material belongs in `documents` (or the knowledge
# base), where the context engine can budget and fence it.
MAX_INSTRUCTION_CHARS = 20_000
# Tool results longer than this are cut before they go back to the model.
MAX_TOOL_RESULT_CHARS = 8_000
AGENT_SYSTEM = (
    "You are an agent that completes a task with the tools you are given. Call tools when they "
    "help; when you have what you need, answer with the final result and no tool calls."
)


class LlmStepArgs(BaseModel):
    instruction: str = Field(min_length=1, max_length=MAX_INSTRUCTION_CHARS)
    system: str | None = None
    documents: Any = None
    output_schema: dict[str, Any] | None = None
    model: str = "fast"
    max_tokens: int = Field(default=512, ge=1, le=32_000)
    temperature: float = Field(default=0.2, ge=0, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    cite: bool = False
    # Notes per document, in the documents' order (e.g. key points extracted from each source):
    # appended under the documents' citation numbers so a reader sees what the answer rests on.
    evidence: list[Any] | None = None
    # Append each document's verbatim quotes (retrieved sources carry them) under its number;
    # with `evidence`, notes that no quote supports are flagged.
    quotes: bool = False
    # Present the structured answer (`data`) as a bullet list under this key in the text.
    bullets_from: str | None = None


@dataclass
class CallOutcome:
    response: LLMResponse
    spec: str  # provider:model that answered
    data: Any = None  # the parsed structured answer
    usage: Usage = field(default_factory=Usage)  # every call made, repairs included
    routing: list[RoutingNote] = field(default_factory=list)


class ModelCaller:
    """One logical model call for one step attempt: budget, repair, escalation, fallback."""

    def __init__(
        self, router: ModelRouter, *, budget: Budget | None, attempt: int, max_attempts: int
    ) -> None:
        self._router = router
        self._budget = budget
        self._last_attempt = max_attempts > 0 and attempt >= max_attempts
        self.usage = Usage()
        self.routing: list[RoutingNote] = []

    async def call(
        self, tier: str, request: LLMRequest, on_delta: DeltaSink | None = None
    ) -> CallOutcome:
        spec = self._router.spec(tier)
        try:
            return await self._validated(spec, request, on_delta)
        except (BadModelOutput, ModelRefused) as e:
            stronger = self._router.spec("strong")
            if tier != "fast" or stronger == spec:
                raise
            self.routing.append(
                RoutingNote(kind="escalated", from_model=spec, to_model=stronger, reason=e.message)
            )
            return await self._validated(stronger, request, on_delta)

    async def _validated(
        self, spec: str, request: LLMRequest, on_delta: DeltaSink | None
    ) -> CallOutcome:
        response, spec = await self._send(spec, request, on_delta)
        if request.output_schema is None:
            return self._outcome(response, spec, None)
        problem, data = _check_json(response.text, request.output_schema)
        if problem is None:
            return self._outcome(response, spec, data)
        repair = request.model_copy(
            update={
                "messages": [
                    *request.messages,
                    Message(role="assistant", content=response.text),
                    Message(
                        role="user",
                        content=(
                            f"That answer does not match the required JSON schema: {problem}. "
                            "Answer again with only JSON that matches the schema."
                        ),
                    ),
                ]
            }
        )
        response, spec = await self._send(spec, repair, on_delta)
        problem, data = _check_json(response.text, request.output_schema)
        if problem is not None:
            raise BadModelOutput(f"{spec} answered JSON that does not fit the schema: {problem}")
        return self._outcome(response, spec, data)

    async def _send(
        self, spec: str, request: LLMRequest, on_delta: DeltaSink | None
    ) -> tuple[LLMResponse, str]:
        """One model call, moved to the fallback model on the last attempt of an outage."""
        try:
            return await self._complete(spec, request, on_delta), spec
        except TransientError as e:
            fallback = self._router.fallback_for(spec)
            if not self._last_attempt or fallback is None:
                raise
            self.routing.append(
                RoutingNote(kind="fallback", from_model=spec, to_model=fallback, reason=e.message)
            )
            return await self._complete(fallback, request, on_delta), fallback

    async def _complete(
        self, spec: str, request: LLMRequest, on_delta: DeltaSink | None
    ) -> LLMResponse:
        provider, model = self._router.resolve(spec)
        self._check_budget(provider, model, request)
        with telemetry.span(
            f"chat {model}",
            **{
                "gen_ai.operation.name": "chat",
                "gen_ai.system": provider.name,
                "gen_ai.request.model": model,
                "gen_ai.request.max_tokens": request.max_tokens,
            },
        ) as current:
            async with self._router.slot(provider.name):
                response = await provider.complete(
                    request.model_copy(update={"model": model}), on_delta
                )
            telemetry.record_model_call(
                current,
                provider=provider.name,
                model=model,
                response_model=response.model,
                input_tokens=response.usage.input_tokens,
                output_tokens=response.usage.output_tokens,
                cost_usd=response.usage.cost_usd,
                finish_reason=response.finish_reason,
            )
        self.usage += response.usage
        return response

    def _check_budget(self, provider: LLMProvider, model: str, request: LLMRequest) -> None:
        """Refuse a call whose worst case (the prompt as estimated, plus every answer token it
        may use) would take the run over its budget."""
        if self._budget is None:
            return
        prompt = sum(context.estimate_tokens(m.content) for m in request.messages)
        worst = prompt + request.max_tokens
        if self._budget.tokens_left is not None:
            left = self._budget.tokens_left - self.usage.input_tokens - self.usage.output_tokens
            if worst > left:
                raise BudgetExceeded(
                    f"token budget reached: the next call to {provider.name}:{model} could use "
                    f"{worst} tokens and only {max(left, 0)} are left"
                )
        if self._budget.usd_left is not None:
            cost = self._router.prices.cost_usd(provider.name, model, prompt, request.max_tokens)
            left_usd = self._budget.usd_left - self.usage.cost_usd
            if cost > left_usd:
                raise BudgetExceeded(
                    f"cost budget reached: the next call to {provider.name}:{model} could cost "
                    f"${cost:.4f} and only ${max(left_usd, 0):.4f} is left"
                )

    def _outcome(self, response: LLMResponse, spec: str, data: Any) -> CallOutcome:
        return CallOutcome(response, spec, data, self.usage, self.routing)


async def _counter(provider: LLMProvider, texts: list[str]) -> context.TokenCounter:
    """Exact counts for the texts of a prompt where the provider can count them offline."""
    exact = await provider.count_tokens(texts)
    return context.counter_from(dict(zip(texts, exact, strict=True)) if exact else {})


def _check_json(text: str, schema: dict[str, Any]) -> tuple[str | None, Any]:
    """(None, data) when `text` is JSON that fits `schema`, else (what is wrong, None)."""
    try:
        data = json.loads(text.strip())
    except json.JSONDecodeError as e:
        return f"not JSON ({e})", None
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        return f"at {where}: {e.message}", None
    except jsonschema.SchemaError as e:
        raise BadModelOutput(f"the step's output_schema is not a valid JSON schema: {e}") from None
    return None, data


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


class LlmActivities:
    def __init__(
        self,
        router: ModelRouter,
        registry: ToolRegistry,
        pool: asyncpg.Pool,
        *,
        redact_pii: bool = False,
    ) -> None:
        self._router = router
        self._registry = registry
        self._pool = pool
        self._redact_pii = redact_pii

    def deltas(self, run_id: str, step_id: str) -> DeltaPublisher:
        """Streamed text goes to the run's (or chat session's) event stream, not into the
        history."""
        return DeltaPublisher(self._pool, run_id, step_id, attempt=activity.info().attempt)

    @property
    def fast_model(self) -> str:
        """provider:model of the fast tier."""
        return self._router.spec("fast")

    def caller(self, budget: Budget | None, max_attempts: int) -> ModelCaller:
        return ModelCaller(
            self._router,
            budget=budget,
            attempt=activity.info().attempt,
            max_attempts=max_attempts,
        )

    @activity.defn(name=Activity.LLM_COMPLETE)
    @classified
    async def complete(self, step: StepInput) -> StepResult:
        args: LlmStepArgs = parse_args(LlmStepArgs, step.args, "an llm step")
        provider, _ = self._router.resolve(args.model)
        documents = context.normalize(args.documents)
        fence = context.new_fence()
        messages = context.build_messages(
            instruction=args.instruction,
            documents=documents,
            system=args.system,
            budget_tokens=provider.context_window - args.max_tokens,
            cite=args.cite,
            count=await _counter(provider, [args.instruction, *(d.text for d in documents)]),
            fence=fence,
        )
        request = LLMRequest(
            model="",
            messages=messages,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            frequency_penalty=args.frequency_penalty,
            output_schema=args.output_schema,
        )
        # Plain text streams to the event stream as it is written; JSON is shown when complete.
        deltas = self.deltas(step.run_id, step.step_id) if args.output_schema is None else None
        outcome = await self.caller(step.budget, step.max_attempts).call(
            args.model, request, deltas
        )
        if deltas is not None:
            await deltas.finish()
        text = context.without_fences(outcome.response.text, fence)
        if args.bullets_from and isinstance(outcome.data, dict):
            items = outcome.data.get(args.bullets_from) or []
            text = "\n".join(f"- {item}" for item in items if str(item).strip())
        if not text:
            raise BadModelOutput(f"{outcome.spec} returned an empty answer")
        if args.cite:
            numbers = [n for n in context.cited_numbers(text) if 1 <= n <= len(documents)]
            # A model that cited nothing still answered from these documents: cite them all.
            used = [documents[n - 1] for n in numbers] or documents
        else:
            used = documents
        # Output guardrail: no secret leaves in an answer; personal data per the deployment.
        text, findings = guard_answer(text, redact_pii=self._redact_pii)
        if args.evidence or args.quotes:
            text += "\n\n" + context.evidence_section(
                documents,
                context.normalize(args.evidence) if args.evidence else None,
                context.quotes_of(args.documents) if args.quotes else None,
            )
        output: dict[str, Any] = {
            "text": text,
            "data": outcome.data,
            "citations": [d.citation().model_dump() for d in used],
            "model": outcome.spec,
        }
        if args.cite:
            output["grounded"] = bool(documents)
            if not documents:  # say it plainly, whatever the model wrote
                output["text"] = f"{UNGROUNDED_NOTE}\n\n{text}"
        return StepResult(
            output=output,
            attempt=activity.info().attempt,
            usage=outcome.usage,
            routing=outcome.routing,
            findings=[f.model_copy(update={"source": "the model's answer"}) for f in findings],
        )

    @activity.defn(name=Activity.AGENT_TURN)
    @classified
    async def agent_turn(self, turn: AgentTurnInput) -> AgentTurnResult:
        """One model turn of an agent loop: the model answers, or asks for tool calls."""
        args = turn.args
        provider, _ = self._router.resolve(args.model)
        offer = ToolOffer.of(self._registry, args.tools)
        documents = context.normalize(args.documents)
        opening = context.build_messages(
            instruction=args.instruction,
            documents=documents,
            system=args.system or AGENT_SYSTEM,
            budget_tokens=provider.context_window // 2,
            cite=bool(documents),
            count=await _counter(provider, [args.instruction, *(d.text for d in documents)]),
        )
        request = LLMRequest(
            model="",
            messages=[offer.system(opening[0]), opening[1], *offer.history(turn.conversation)],
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            tools=offer.schemas,
        )
        deltas = self.deltas(turn.run_id, turn.step_id)
        outcome = await self.caller(turn.budget, turn.max_attempts).call(
            args.model, request, deltas
        )
        await deltas.finish()
        response = outcome.response
        if not response.tool_calls and not response.text.strip():
            raise BadModelOutput(f"{outcome.spec} returned neither an answer nor tool calls")
        message = offer.answer(response)
        # A call to a tool the step was not given is refused by the workflow, which tells the model.
        return AgentTurnResult(message=message, usage=outcome.usage, routing=outcome.routing)
