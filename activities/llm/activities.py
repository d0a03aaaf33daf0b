"""Model-calling activities: the `llm` step and one turn of an `agent` step.

An agent step's turn and a chat turn's round (activities/chat.py) are one code path,
`model_round` (activities/llm/tool_round.py): the workflows run one agent loop for both
(workflows/agent_loop.py), and the activities differ only in the prompt they open with and what
they make of the answer.

Every call goes through `ModelCaller` (activities/llm/caller.py): budget, structured-output
repair, escalation and fallback, each escalation and fallback returned as a `RoutingNote` that the
workflow records as an event.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import BaseModel, Field
from temporalio import activity

from activities import context
from activities.common import classified, parse_args
from activities.llm import confidence as confidence_of
from activities.llm.base import LLMProvider, LLMRequest
from activities.llm.cache import ResponseCache
from activities.llm.caller import ModelCaller, SpendAccount, activity_account
from activities.llm.router import ModelRouter
from activities.llm.tool_round import ToolOffer, model_round
from activities.prompts import PromptTexts
from activities.tools.mcp_tools import tenant_mcp_tools
from activities.tools.registry import ToolRegistry, use_tenant_tools
from aios import telemetry
from aios.errors import BadModelOutput
from aios.guardrails import guard_answer
from aios.models import (
    AgentTurnInput,
    AgentTurnResult,
    Budget,
    CacheMode,
    ContextTrim,
    StepInput,
    StepResult,
)
from aios.prompts import AGENT_SYSTEM, DEFAULT_SYSTEM
from aios.stores.deltas import DeltaPublisher
from aios.stores.ledger import LedgerStore
from aios.stores.llm_cache import LlmCacheStore
from aios.stores.memory import ConversationStore, UserFactStore
from aios.vocabulary import Activity

UNGROUNDED_NOTE = (
    "_The knowledge base has no documents on this, so this answer is not grounded in any source; "
    "add documents with `aios ingest`._"
)
UNCITED_NOTE = (
    "_This answer cites none of the numbered sources it was given; check it against them._"
)
# An instruction is a prompt, not a document: material belongs in `documents` (or the knowledge
# base), where the context engine can budget and fence it.
MAX_INSTRUCTION_CHARS = 20_000
# The latest messages of a run's session shown to its answering steps (the rest is summarised).
RECENT_SESSION_MESSAGES = 6


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


async def _counter(provider: LLMProvider, texts: list[str]) -> context.TokenCounter:
    """Exact counts for the texts of a prompt where the provider can count them offline."""
    exact = await provider.count_tokens(texts)
    return context.counter_from(dict(zip(texts, exact, strict=True)) if exact else {})


class LlmActivities:
    def __init__(
        self,
        router: ModelRouter,
        registry: ToolRegistry,
        pool: asyncpg.Pool,
        *,
        redact_pii: bool = False,
        cache_ttl_s: float = 0,
        logprobs: bool = False,
        content_policy: dict[str, str] | None = None,
    ) -> None:
        self._router = router
        # AIOS_CONTENT_POLICY: an answer (a run's or a chat's) that matches it is withheld.
        self.content_policy = dict(content_policy or {})
        self._logprobs = logprobs
        # AIOS_LLM_CACHE_TTL_S; 0: no cache (activities/llm/cache.py).
        self._cache = ResponseCache(LlmCacheStore(pool), cache_ttl_s)
        self._registry = registry
        self._pool = pool
        self._redact_pii = redact_pii
        self._ledger = LedgerStore(pool)
        self._conversations = ConversationStore(pool)
        self._facts = UserFactStore(pool)
        self.prompts = PromptTexts(pool)

    def deltas(
        self,
        run_id: str,
        step_id: str,
        *,
        redact_pii: bool | None = None,
        fence: str | None = None,
        eager: bool = False,
    ) -> DeltaPublisher:
        """Streamed text goes to the run's (or chat session's) event stream, not into the
        history; cleaned as the answer will be (`redact_pii`: the deployment's setting unless the
        caller's answer says otherwise; `fence`: the call's, whose echoed markup is dropped;
        `eager`: a person waits for the first words, see `DeltaPublisher`)."""
        return DeltaPublisher(
            self._pool,
            run_id,
            step_id,
            attempt=activity.info().attempt,
            redact_pii=self._redact_pii if redact_pii is None else redact_pii,
            fence=fence,
            eager=eager,
            policy=self.content_policy,
        )

    @property
    def fast_model(self) -> str:
        """provider:model of the fast tier."""
        return self._router.spec("fast")

    @property
    def strong_model(self) -> str:
        """provider:model of the strong tier."""
        return self._router.spec("strong")

    def model_spec(self, tier_or_spec: str) -> str:
        """`fast`, `strong` or a `provider:model` as the `provider:model` it means here."""
        return self._router.spec(tier_or_spec)

    def context_window(self, tier_or_spec: str) -> int:
        """Tokens one request to this model may use (prompt and answer together)."""
        return self._router.context_window(tier_or_spec)

    async def token_counter(self, tier_or_spec: str, texts: list[str]) -> context.TokenCounter:
        """Exact counts of `texts` for this model where its provider can count offline, estimates
        for the rest."""
        exact = await self._router.count_tokens(tier_or_spec, texts)
        return context.counter_from(dict(zip(texts, exact, strict=True)) if exact else {})

    def account(self, budget: Budget | None, *, tenant: str, user_id: str) -> SpendAccount:
        """The running activity attempt's spend account (one an attempt): its model calls, and
        the paid embedding requests made below it, are charged to it."""
        return activity_account(self._ledger, budget, tenant=tenant, user_id=user_id)

    def caller(
        self,
        budget: Budget | None,
        max_attempts: int,
        *,
        tenant: str,
        user_id: str,
        cache: CacheMode | None = None,
    ) -> ModelCaller:
        """The model caller of this activity attempt: its calls are reserved in the spend ledger
        against the run (and the runs above it), the user and the tenant; identical calls are
        answered from the tenant's LLM response cache as the run's `cache` mode says."""
        account = self.account(budget, tenant=tenant, user_id=user_id)
        return ModelCaller(
            self._router,
            budget=budget,
            attempt=account.attempt,
            max_attempts=max_attempts,
            account=account,
            cache=self._cache,
            cache_mode=cache or "auto",
        )

    async def _conversation(self, step: StepInput, session_id: str) -> tuple[str, dict[str, Any]]:
        """The run's conversation for its prompt (the session's summary and latest messages, the
        user's facts) and where it came from. Only the session's stored summary is read: folding
        older messages into it is the chat's work, with its own model call."""
        summary, through = await self._conversations.summary(step.tenant, session_id)
        recent = (await self._conversations.messages(step.tenant, session_id, after_seq=through))[
            -RECENT_SESSION_MESSAGES:
        ]
        facts = await self._facts.live(step.tenant, step.user_id)
        note, cut = context.conversation_note(
            session_id,
            summary,
            [(m.role, m.content) for m in recent],
            [(f.key, f.value) for f in facts],
        )
        provenance: dict[str, Any] = {
            "session_id": session_id,
            "messages": [m.seq for m in recent],
            "summary": bool(summary),
            "facts": [f.key for f in facts],
        }
        if cut:  # the oldest of it left out (context.MAX_CONVERSATION_CHARS)
            provenance["cut_chars"] = cut
        return note, provenance

    @activity.defn(name=Activity.LLM_COMPLETE)
    @classified
    async def complete(self, step: StepInput) -> StepResult:
        args: LlmStepArgs = parse_args(LlmStepArgs, step.args, "an llm step")
        if step.versions is not None and step.versions.model:  # a run pinned to one model
            args.model = step.versions.model
        provider, _ = self._router.resolve(args.model)
        documents = context.normalize(args.documents)
        fence = context.new_fence()
        # A run in a conversation: its answers (not structured extractions) see the session and
        # the user's facts, and the output says which (provenance).
        conversation = (
            await self._conversation(step, step.session_id)
            if step.session_id and args.output_schema is None
            else None
        )
        system = args.system
        if system is None and step.versions is not None:  # a pinned version of the default
            system = await self.prompts.text(step.tenant, step.versions, "system", DEFAULT_SYSTEM)
        if conversation is not None and conversation[0]:
            system = f"{system or DEFAULT_SYSTEM}\n\n{conversation[0]}"
        # AIOS_MODEL_CONTEXT_WINDOWS where it names the model, else the provider's window.
        window = self._router.context_window(args.model)
        messages, trim = context.build_prompt(
            instruction=args.instruction,
            documents=documents,
            system=system,
            budget_tokens=window - args.max_tokens,
            cite=args.cite,
            count=await _counter(provider, [args.instruction, *(d.text for d in documents)]),
            fence=fence,
            window=window,
        )
        request = LLMRequest(
            model="",
            messages=messages,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            frequency_penalty=args.frequency_penalty,
            output_schema=args.output_schema,
            # An answer step's confidence uses them (AIOS_CONFIDENCE_LOGPROBS).
            logprobs=self._logprobs and args.cite,
        )
        # Plain text streams to the event stream as it is written; JSON is shown when complete.
        deltas = (
            self.deltas(step.run_id, step.step_id, fence=fence)
            if args.output_schema is None
            else None
        )
        outcome = await self.caller(
            step.budget,
            step.max_attempts,
            tenant=step.tenant,
            user_id=step.user_id,
            cache=step.cache,
        ).call(args.model, request, deltas)
        if deltas is not None:
            await deltas.finish()
        text = context.without_fences(outcome.response.text, fence)
        if args.bullets_from and isinstance(outcome.data, dict):
            items = outcome.data.get(args.bullets_from) or []
            text = "\n".join(f"- {item}" for item in items if str(item).strip())
        if not text:
            raise BadModelOutput(f"{outcome.spec} returned an empty answer")
        numbers = [n for n in context.cited_numbers(text) if 1 <= n <= len(documents)]
        # A model that cited nothing still answered from these documents: cite them all.
        used = [documents[n - 1] for n in numbers] if args.cite and numbers else documents
        # Output guardrail: no secret leaves in an answer; personal data per the deployment.
        text, findings = guard_answer(text, redact_pii=self._redact_pii, policy=self.content_policy)
        # An answer step (one that cites its sources) says how far it can be trusted.
        confidence = (
            confidence_of.measure(
                text,
                documents,
                args.documents,
                mean_logprob=outcome.response.mean_logprob,
            )
            if args.cite
            else None
        )
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
        if conversation is not None and conversation[0]:
            output["conversation"] = conversation[1]
        if confidence is not None:
            output["confidence"] = confidence.model_dump()
            telemetry.ANSWER_CONFIDENCE.labels(step.skill or "", outcome.spec).observe(
                confidence.score
            )
        if outcome.usage.cache_hits:  # in the step's output and usage, so in the trace
            output["cache"] = {
                "hits": outcome.usage.cache_hits,
                "saved_usd": outcome.usage.saved_usd,
            }
        cut_conversation = conversation[1].get("cut_chars", 0) if conversation else 0
        if cut_conversation:
            trim = (
                trim or ContextTrim(window=window, budget_tokens=window - args.max_tokens)
            ).model_copy(update={"conversation_cut_chars": cut_conversation})
        if trim is not None:  # no silent cut: the output and (as an event) the trace say it
            output["context_trim"] = {"note": trim.note(), **trim.model_dump()}
        if args.cite:
            output["grounded"] = bool(documents)
            # Say it plainly, whatever the model wrote: no sources at all, or none cited (small
            # models often ignore the numbers; the evidence section still shows the sources).
            if not documents:
                output["text"] = f"{UNGROUNDED_NOTE}\n\n{text}"
            elif not numbers:
                output["text"] = f"{UNCITED_NOTE}\n\n{text}"
        return StepResult(
            output=output,
            attempt=activity.info().attempt,
            usage=outcome.usage,
            routing=outcome.routing,
            findings=[f.model_copy(update={"source": "the model's answer"}) for f in findings],
            context_trim=trim,
        )

    @activity.defn(name=Activity.AGENT_TURN)
    @classified
    async def agent_turn(self, turn: AgentTurnInput) -> AgentTurnResult:
        """One model turn of an agent loop: the model answers, or asks for tool calls."""
        args = turn.args
        if turn.versions is not None and turn.versions.model:  # a run pinned to one model
            args = args.model_copy(update={"model": turn.versions.model})
        provider, _ = self._router.resolve(args.model)
        # The step may offer tools of the tenant's own MCP servers.
        use_tenant_tools(await tenant_mcp_tools(self._pool, turn.tenant))
        offer = ToolOffer.of(self._registry, args.tools)
        documents = context.normalize(args.documents)
        # Half the window (AIOS_MODEL_CONTEXT_WINDOWS, else the provider's) for the opening: the
        # turns' tool results need the rest.
        window = self._router.context_window(args.model)
        opening, trim = context.build_prompt(
            instruction=args.instruction,
            documents=documents,
            system=args.system
            or await self.prompts.text(turn.tenant, turn.versions, "agent", AGENT_SYSTEM),
            budget_tokens=window // 2,
            cite=bool(documents),
            count=await _counter(provider, [args.instruction, *(d.text for d in documents)]),
            window=window,
        )
        round_ = await model_round(
            self.caller(
                turn.budget,
                turn.max_attempts,
                tenant=turn.tenant,
                user_id=turn.user_id,
                cache=turn.cache,
            ),
            args.model,
            offer,
            system=opening[0],
            question=opening[1],
            conversation=turn.conversation,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            deltas=self.deltas(turn.run_id, turn.step_id, fence=offer.fence),
        )
        outcome = round_.outcome
        if not round_.asks and not round_.message.content:
            raise BadModelOutput(f"{outcome.spec} returned neither an answer nor tool calls")
        message = round_.message
        if not round_.asks:
            # The agent's answer passes the output guardrails as an llm step's does: no secret,
            # personal data per the deployment, withheld if it breaks the content policy.
            text, _findings = guard_answer(
                message.content, redact_pii=self._redact_pii, policy=self.content_policy
            )
            message = message.model_copy(update={"content": text})
        # A call to a tool the step was not given is refused by the workflow, which tells the model.
        return AgentTurnResult(
            message=message, usage=outcome.usage, routing=outcome.routing, context_trim=trim
        )
