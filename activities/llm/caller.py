"""`ModelCaller`: one logical model call for one step attempt, the one place that
- refuses a call that could take the run over its budget (tokens or dollars), before making it;
- validates structured output against its JSON schema and, when it does not fit, gives the model
  one repair round with the validation message;
- escalates from the `fast` tier to `strong` when the repair round did not help or the model
  refused;
- on the step's last attempt, moves to the fallback model (AIOS_MODEL_FALLBACK) when the
  provider is out.
Each escalation and fallback is returned as a `RoutingNote`; the workflow records it as an event.
Used by the model-calling activities (activities/llm/activities.py) and by memory's summaries.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import jsonschema
from temporalio import activity

from activities import context
from activities.llm.base import DeltaSink, LLMProvider, LLMRequest, LLMResponse, Message
from activities.llm.cache import CacheHit, ResponseCache, cache_key, cacheable
from activities.llm.router import ModelRouter
from aios import telemetry
from aios.errors import BadModelOutput, BudgetExceeded, ModelRefused, TransientError
from aios.models import Budget, CacheMode, RoutingNote, Usage
from aios.stores.ledger import LedgerStore, Spender

log = logging.getLogger("aios.activities")


@dataclass
class SpendAccount:
    """Where one activity attempt's model calls are reserved and settled (the spend ledger):
    `key` names the run, activity and attempt, and each call in it gets its own number, so a
    repeated reservation is recognised and never charged twice.

    With `activity_key` (the activity's idempotency key: `key` is `<activity_key>/<attempt>`), a
    retry's first reservation expires what earlier attempts left open: a worker killed between
    reserve and settle is reconciled by the attempt that replaces it, at the call's worst case
    (`LedgerStore.abandon_earlier_attempts`)."""

    ledger: LedgerStore
    spender: Spender
    key: str
    calls: int = 0
    activity_key: str | None = None
    attempt: int = 1

    @classmethod
    def of_attempt(
        cls, ledger: LedgerStore, spender: Spender, activity_key: str, attempt: int
    ) -> SpendAccount:
        return cls(
            ledger, spender, f"{activity_key}/{attempt}", activity_key=activity_key, attempt=attempt
        )

    async def next_key(self) -> str:
        if self.calls == 0 and self.activity_key is not None and self.attempt > 1:
            await self.ledger.abandon_earlier_attempts(
                self.spender.run_id, self.activity_key, self.attempt
            )
        self.calls += 1
        return f"{self.key}/{self.calls}"

    @contextlib.asynccontextmanager
    async def charged(self, what: str, usd: float) -> AsyncIterator[None]:
        """One paid call that is not a model's (a web search at its provider's price): reserved
        before it is made (refused with BudgetExceeded over a cap), settled at its price when it
        returns, released when it fails (charged at its price when it may have been made:
        LedgerStore.fail). `what` names it in the ledger's `model` column."""
        key = await self.next_key()
        await self.ledger.reserve(key, self.spender, what, usd, 0)
        try:
            yield
        except BaseException as e:
            await asyncio.shield(self.ledger.fail(key, e))
            raise
        await self.ledger.settle(key, usd, 0, 0)
        telemetry.PAID_CALL_COST.labels(what, self.spender.tenant).inc(usd)


def activity_account(
    ledger: LedgerStore, budget: Budget | None, *, tenant: str, user_id: str
) -> SpendAccount:
    """The spend account of the running activity attempt: charged to its run (and the runs above
    it, the skill, key and schedule its budget names), the user and the tenant. Its key is the
    activity's idempotency key, stable across attempts and unique across the runs of a workflow
    id (a chat session that continued as new numbers its activities from 1 again)."""
    info = activity.info()
    spender = Spender(
        tenant=tenant,
        user_id=user_id,
        run_id=info.workflow_id or "",
        runs=budget.runs if budget is not None else [],
        skill=budget.skill if budget is not None else None,
        schedule_id=budget.schedule_id if budget is not None else None,
        key_id=budget.key_id if budget is not None else None,
    )
    activity_key = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
    current = _ACCOUNT.get()
    if (
        current is not None
        and current.activity_key == activity_key
        and current.attempt == info.attempt
        and current.spender == spender
    ):
        # One account an attempt: two would number their calls from 1 alike, and the second's
        # reservations would be taken for repeats of the first's (and go uncharged).
        return current
    account = SpendAccount.of_attempt(ledger, spender, activity_key, info.attempt)
    _ACCOUNT.set(account)
    return account


# The running activity attempt's account, once activity_account() made it: paid calls made
# below the activity that have no account passed to them (an `openai:` embedding model's, from
# the knowledge index or memory) are charged to it.
_ACCOUNT: contextvars.ContextVar[SpendAccount | None] = contextvars.ContextVar(
    "aios_spend_account", default=None
)


@contextlib.contextmanager
def spending(
    ledger: LedgerStore, *, tenant: str, user_id: str, key_id: str | None
) -> Iterator[None]:
    """Work done outside an activity (an API request's search or memory write): the paid calls
    made below it (a paid embedding model's) are charged to the caller's user, key and tenant,
    each under a key of its own."""
    spender = Spender(tenant=tenant, user_id=user_id, run_id="", key_id=key_id)
    token = _ACCOUNT.set(SpendAccount(ledger, spender, f"api/{uuid.uuid4().hex}"))
    try:
        yield
    finally:
        _ACCOUNT.reset(token)


def current_account() -> SpendAccount | None:
    """The spend account of the running activity attempt (None before the activity opened one),
    or outside an activity the one `spending()` opened."""
    account = _ACCOUNT.get()
    if account is None:
        return None
    if not activity.in_activity():
        return account if account.activity_key is None else None
    info = activity.info()
    key = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
    return account if account.activity_key == key and account.attempt == info.attempt else None


class ModelCallers(Protocol):
    """What an activity needs to make model calls that are charged in the spend ledger (the
    worker's `LlmActivities` is one): the attempt's spend account and a caller over it. Typed
    as a protocol so a service that makes a few model calls (memory's summaries) does not
    import the model-calling activities."""

    def account(self, budget: Budget | None, *, tenant: str, user_id: str) -> SpendAccount: ...

    def caller(
        self,
        budget: Budget | None,
        max_attempts: int,
        *,
        tenant: str,
        user_id: str,
        cache: CacheMode | None = None,
    ) -> ModelCaller: ...


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
        self,
        router: ModelRouter,
        *,
        budget: Budget | None,
        attempt: int,
        max_attempts: int,
        account: SpendAccount | None = None,
        cache: ResponseCache | None = None,
        cache_mode: CacheMode = "auto",
    ) -> None:
        self._router = router
        self._budget = budget
        self._account = account
        # The LLM response cache, asked before the ledger: only with an account (a tenant).
        self._cache = cache if cache is not None and cache.enabled and account else None
        self._cache_mode = cache_mode
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
        cached = self._cache_key(spec, request)
        if cached is not None:
            hit = await self._lookup(spec, cached)
            if hit is not None:
                return await self._replayed(hit, on_delta)
        self._check_budget(provider, model, request)
        key = await self._reserve(provider, model, request)
        try:
            response = await self._respond(provider, model, request, on_delta)
        except BaseException as e:
            # Released when the provider cannot have billed it, charged at its worst case when it
            # may have (cancelled while waiting, its answer lost): LedgerStore.fail.
            if key is not None and self._account is not None:
                await asyncio.shield(self._account.ledger.fail(key, e))
            raise
        if key is not None and self._account is not None:
            usage = response.usage
            await self._account.ledger.settle(
                key, usage.cost_usd, usage.input_tokens, usage.output_tokens
            )
        self.usage += response.usage
        if cached is not None and _keepable(request, response):
            await self._keep(spec, cached, response)
        return response

    # --- the LLM response cache (activities/llm/cache.py) ---------------------------------------

    def _cache_key(self, spec: str, request: LLMRequest) -> str | None:
        if self._cache is None or not cacheable(self._cache_mode, request):
            return None
        return cache_key(spec, request)

    async def _lookup(self, spec: str, key: str) -> CacheHit | None:
        assert self._cache is not None and self._account is not None
        try:
            return await self._cache.lookup(self._account.spender, spec, key)
        except Exception as e:  # the cache is a saving, never a reason for a call to fail
            log.warning("LLM cache lookup failed, calling the model: %s", e)
            return None

    async def _keep(self, spec: str, key: str, response: LLMResponse) -> None:
        assert self._cache is not None and self._account is not None
        try:
            await self._cache.keep(self._account.spender.tenant, spec, key, response)
        except Exception as e:
            log.warning("LLM cache store failed (the answer stands): %s", e)

    async def _replayed(self, hit: CacheHit, on_delta: DeltaSink | None) -> LLMResponse:
        """A cached answer as this call's: no tokens, no cost, one hit and what it saved; a
        streamed call gets the whole text as one delta."""
        usage = Usage(cache_hits=1, saved_usd=hit.answer.cost_usd)
        response = hit.response.model_copy(update={"usage": usage})
        if on_delta is not None and response.text:
            await on_delta(response.text)
        self.usage += usage
        return response

    async def _reserve(self, provider: LLMProvider, model: str, request: LLMRequest) -> str | None:
        """Reserve the call's worst case in the spend ledger; the reservation's key."""
        if self._account is None:
            return None
        prompt = _prompt_estimate(request)
        price = self._router.prices.price(provider.name, model)
        worst = (
            None
            if price is None
            else (prompt * price[0] + request.max_tokens * price[1]) / 1_000_000
        )
        key = await self._account.next_key()
        await self._account.ledger.reserve(
            key,
            self._account.spender,
            f"{provider.name}:{model}",
            worst,
            prompt + request.max_tokens,
        )
        return key

    async def _respond(
        self, provider: LLMProvider, model: str, request: LLMRequest, on_delta: DeltaSink | None
    ) -> LLMResponse:
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
        return response

    def _check_budget(self, provider: LLMProvider, model: str, request: LLMRequest) -> None:
        """Refuse a call whose worst case (the prompt as estimated, plus every answer token it
        may use) would take the run over its budget."""
        if self._budget is None:
            return
        prompt = _prompt_estimate(request)
        worst = prompt + request.max_tokens
        if self._budget.tokens_left is not None:
            left = self._budget.tokens_left - self.usage.input_tokens - self.usage.output_tokens
            if worst > left:
                raise BudgetExceeded(
                    f"token budget reached: the next call to {provider.name}:{model} could use "
                    f"{worst} tokens and only {max(left, 0)} are left"
                )
        if self._budget.usd_left is not None:
            if self._router.prices.price(provider.name, model) is None:
                raise BudgetExceeded(
                    f"model_unpriced: {provider.name}:{model} has no price and the run has a USD "
                    "budget; add its price to AIOS_MODEL_PRICES "
                    '(JSON {"provider:model": [input, output]} USD per million tokens)'
                )
            cost = self._router.prices.cost_usd(provider.name, model, prompt, request.max_tokens)
            left_usd = self._budget.usd_left - self.usage.cost_usd
            if cost > left_usd:
                raise BudgetExceeded(
                    f"cost budget reached: the next call to {provider.name}:{model} could cost "
                    f"${cost:.4f} and only ${max(left_usd, 0):.4f} is left"
                )

    def _outcome(self, response: LLMResponse, spec: str, data: Any) -> CallOutcome:
        return CallOutcome(response, spec, data, self.usage, self.routing)


def _prompt_estimate(request: LLMRequest) -> int:
    """The prompt's tokens as estimated before the call: its messages and its tool schemas."""
    tools = json.dumps([t.model_dump() for t in request.tools]) if request.tools else ""
    return sum(context.estimate_tokens(m.content) for m in request.messages) + (
        context.estimate_tokens(tools) if tools else 0
    )


def _keepable(request: LLMRequest, response: LLMResponse) -> bool:
    """An answer worth keeping: it says something, and structured output fits its schema (a
    misfit would be repaired again on every hit)."""
    if not response.text.strip() and not response.tool_calls:
        return False
    if request.output_schema is None:
        return True
    problem, _ = _check_json(response.text, request.output_schema)
    return problem is None


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
