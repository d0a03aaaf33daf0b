"""The `llm` step: one model call with a prompt built by the context engine."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity

from activities import context
from activities.common import classified, parse_args
from activities.llm.base import LLMRequest
from activities.llm.router import ModelRouter
from aios.errors import BadModelOutput
from aios.models import StepInput, StepResult
from aios.vocabulary import Activity

# An instruction is a prompt, not a document: material belongs in `documents` (or the knowledge
# base), where the context engine can budget and fence it.
MAX_INSTRUCTION_CHARS = 20_000


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
    # Present the structured answer (`data`) as a bullet list under this key in the text.
    bullets_from: str | None = None


class LlmActivities:
    def __init__(self, router: ModelRouter) -> None:
        self._router = router

    @activity.defn(name=Activity.LLM_COMPLETE)
    @classified
    async def complete(self, step: StepInput) -> StepResult:
        args: LlmStepArgs = parse_args(LlmStepArgs, step.args, "an llm step")
        provider, model = self._router.resolve(args.model)
        documents = context.normalize(args.documents)
        budget = provider.context_window - args.max_tokens
        messages = context.build_messages(
            instruction=args.instruction,
            documents=documents,
            system=args.system,
            budget_tokens=budget,
            cite=args.cite,
        )
        response = await provider.complete(
            LLMRequest(
                model=model,
                messages=messages,
                max_tokens=args.max_tokens,
                temperature=args.temperature,
                frequency_penalty=args.frequency_penalty,
                output_schema=args.output_schema,
            )
        )
        text = response.text.strip()
        data: Any = None
        if args.output_schema is not None:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise BadModelOutput(
                    f"{provider.name}:{model} did not answer with JSON ({e}); got {text[:200]!r}"
                ) from None
            if args.bullets_from and isinstance(data, dict):
                items = data.get(args.bullets_from) or []
                text = "\n".join(f"- {item}" for item in items if str(item).strip())
        if not text:
            raise BadModelOutput(f"{provider.name}:{model} returned an empty answer")
        if args.cite:
            numbers = [n for n in context.cited_numbers(text) if 1 <= n <= len(documents)]
            # A model that cited nothing still answered from these documents: cite them all.
            used = [documents[n - 1] for n in numbers] or documents
        else:
            used = documents
        if args.evidence:
            text += "\n\n" + context.evidence_section(documents, context.normalize(args.evidence))
        return StepResult(
            output={
                "text": text,
                "data": data,
                "citations": [d.citation().model_dump() for d in used],
                "model": f"{provider.name}:{response.model}",
            },
            attempt=activity.info().attempt,
            usage=response.usage,
        )
