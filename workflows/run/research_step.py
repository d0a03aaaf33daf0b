"""A `research` step: a deep-research loop inside the run's workflow (aios/research.py).

    questions = the model's sub-questions of the question (or the question itself)
    for each round, up to `depth`:
        each question is searched on the web and in the knowledge base, at the same time
        the best unread pages are read (each URL once per run: the read is an activity whose
        result is in the history, so a restarted worker replays it instead of fetching again)
        the round's notes: verbatim quotes from each page and document (`aios.research_notes`,
        kept as the run's files research/notes-<round>.md)
        stop when nothing new was found (saturation) or the page limit is reached
        questions = the model's follow-up questions from the notes (none: saturation)

Every search, read, note and model call is its own activity with the step's timeout and retry
policy; the spend ledger stops the run when a model call would cross a budget. Progress goes to
the run's events (`research.progress`: questions, pages read or skipped and why, notes), which
the CLI, the console and the Temporal UI's activity summaries show while it runs. A web search
that is not configured, a page that robots.txt forbids, or one that is not text is noted and
skipped: research goes on with what it can reach. A follow-up question is written from what pages
and documents said (untrusted): its web search is checked for the user's private data it would
carry (any host: research reads the open web), and one that would carry some is withheld, said so,
and not sent.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from aios.models import AgentRunInput, SourcePassages, StepInput, StepResult, Usage
    from aios.plan import RetrySpec, Step
    from aios.research import (
        ResearchNotesInput,
        ResearchNotesResult,
        ResearchPage,
        ResearchStepArgs,
        StopReason,
    )
    from aios.vocabulary import Activity, RunEventType

from workflows.dag import StepFailed
from workflows.patches import RESEARCH_EGRESS_PATCH
from workflows.run.approval_gate import ApprovalGate
from workflows.run.budget_approval import retry_when_cap_raised
from workflows.run.calls import (
    egress_refused,
    failure_reason,
    step_activity,
)
from workflows.run.journal import RunJournal

# Searches and reads are retried briefly: a site that is down is skipped, not waited for.
LOOKUP_RETRY = RetrySpec(max_attempts=3, initial_interval_s=1.0)
MODEL_RETRY = RetrySpec(max_attempts=4, initial_interval_s=2.0)
MAX_QUESTION_CHARS = 300


def _questions_schema(most: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "questions": {
                "type": "array",
                "items": {"type": "string", "maxLength": MAX_QUESTION_CHARS},
                "maxItems": most,
            }
        },
        "required": ["questions"],
        "additionalProperties": False,
    }


class SearchWithheld(StepFailed):
    """A follow-up search that would carry the user's private data out: not sent."""


def url_key(url: str) -> str:
    """A short, stable name for a URL in idempotency keys (the URL itself may be long)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


class ResearchLoop:
    def __init__(
        self,
        run: AgentRunInput,
        step: Step,
        args: dict[str, Any],
        journal: RunJournal,
        gate: ApprovalGate,
    ) -> None:
        try:
            self._args = ResearchStepArgs.model_validate(args)
        except ValueError as e:
            raise StepFailed(f"invalid arguments for a research step: {e}") from None
        self._run = run
        self._step = step
        self._raw_args = args
        self._journal = journal
        self._gate = gate
        self._question = (self._args.question or run.goal).strip()
        self._asked: list[str] = []
        self._sources: dict[str, SourcePassages] = {}
        self._read: list[str] = []
        self._skipped: list[dict[str, str]] = []
        # Every URL read or skipped: none is fetched twice in a run.
        self._tried: set[str] = set()
        self._notes_files: list[str] = []
        self._usage = Usage()
        # Why the web is not searched, once it is known (not configured, or turned off).
        self._web_off: str | None = None if self._args.web else "turned off for this step"

    async def run(self) -> StepResult:
        args = self._args
        questions = await self._propose(first=True)
        stopped: StopReason = "depth"
        rounds = 0
        for round_ in range(1, args.depth + 1):
            rounds = round_
            self._asked += questions
            self._progress("questions", round_, questions=questions)
            found = await self._round(round_, questions)
            if found == 0:
                stopped = "saturation"
                break
            if self._web_off is None and len(self._tried) >= args.max_pages:
                stopped = "pages"
                break
            if round_ == args.depth:
                break
            questions = await self._propose(first=False)
            if not questions:
                stopped = "saturation"
                break
        self._progress("done", rounds, stopped=stopped, sources=len(self._sources))
        return StepResult(
            output={
                "question": self._question,
                "questions": self._asked,
                "rounds": rounds,
                "stopped": stopped,
                "sources": [s.model_dump() for s in self._sources.values()],
                "read": self._read,
                "skipped": self._skipped,
                "notes_files": self._notes_files,
                "web": self._web_off and f"not searched: {self._web_off}",
            },
            usage=self._usage,
            # Pages and documents are content from outside.
            untrusted=True,
        )

    # --- one round ----------------------------------------------------------------------

    async def _round(self, round_: int, questions: list[str]) -> int:
        """Search, read and take notes for `questions`; how many new sources the round found."""
        searches = await asyncio.gather(
            *(self._search(round_, i, q) for i, q in enumerate(questions))
        )
        pages: list[tuple[str, str, str]] = []  # (url, title, question)
        chosen: set[str] = set()
        found: list[SourcePassages] = []
        for question, (web_hits, documents) in zip(questions, searches, strict=True):
            for document in documents:
                if document.source not in self._sources:
                    found.append(document)
            # The question's best hits not read (or chosen) yet, within the page limit.
            room = self._args.max_pages - len(self._read) - len(self._skipped) - len(pages)
            wanted = min(self._args.pages_per_question, max(room, 0))
            for hit in web_hits:
                url = str(hit.get("url", ""))
                if wanted == 0:
                    break
                if url and url not in self._tried and url not in chosen:
                    chosen.add(url)
                    pages.append((url, str(hit.get("title") or ""), question))
                    wanted -= 1
        read = await asyncio.gather(*(self._read_page(round_, *page) for page in pages))
        fresh = [page for page in read if page is not None]
        notes = await self._notes(round_, fresh, found)
        new = [s for s in notes.sources if s.source not in self._sources]
        for source in new:
            self._sources[source.source] = source
        self._notes_files.append(notes.notes_file)
        self._progress(
            "notes",
            round_,
            sources=[{"source": s.source, "title": s.title, "quotes": len(s.quotes)} for s in new],
            notes_file=notes.notes_file,
        )
        return len(new)

    async def _search(
        self, round_: int, index: int, question: str
    ) -> tuple[list[dict[str, Any]], list[SourcePassages]]:
        """The web's hits and the knowledge base's sources for one question, asked together."""
        web, documents = await asyncio.gather(
            self._search_web(round_, index, question), self._search_knowledge(round_, question)
        )
        self._progress(
            "searched",
            round_,
            question=question,
            web=[str(h.get("url", "")) for h in web],
            documents=[d.source for d in documents],
        )
        return web, documents

    async def _search_web(self, round_: int, index: int, question: str) -> list[dict[str, Any]]:
        if self._web_off is not None or self._args.pages_per_question == 0:
            return []
        try:
            result = await self._activity(
                Activity.INVOKE_TOOL,
                self._input(
                    f"search/r{round_}/{index}",
                    {"query": question, "k": self._args.k},
                    tool="web_search",
                    # A follow-up question was written from what the pages and documents said.
                    tainted=round_ > 1 and self._journal.patches.has(RESEARCH_EGRESS_PATCH),
                ),
                LOOKUP_RETRY,
                f"research: web search «{question[:80]}»",
            )
        except SearchWithheld as e:
            self._progress("withheld", round_, question=question, reason=e.reason)
            return []
        except StepFailed as e:
            # Not configured (or refused): said once, and the knowledge base carries on.
            if self._web_off is None:
                self._web_off = e.reason
                self._progress("web_unavailable", round_, reason=e.reason)
            return []
        hits = result.output.get("results", []) if isinstance(result.output, dict) else []
        return [h for h in hits if isinstance(h, dict)]

    async def _search_knowledge(self, round_: int, question: str) -> list[SourcePassages]:
        if not self._args.knowledge:
            return []
        result = await self._activity(
            Activity.RETRIEVE,
            self._input(
                f"retrieve/r{round_}/{url_key(question)}",
                {
                    "query": question,
                    "k": self._args.k,
                    "max_sources": max(self._args.pages_per_question, 1),
                    "quotes": self._args.quotes_per_source,
                },
            ),
            LOOKUP_RETRY,
            f"research: knowledge base «{question[:80]}»",
        )
        output = result.output if isinstance(result.output, dict) else {}
        return [SourcePassages.model_validate(s) for s in output.get("sources", [])]

    async def _read_page(
        self, round_: int, url: str, title: str, question: str
    ) -> ResearchPage | None:
        """The page's text, or None (skipped, with the reason in the events and the output)."""
        self._tried.add(url)
        try:
            result = await self._activity(
                Activity.INVOKE_TOOL,
                # Keyed by the URL: a page is read once per run, whichever round asks for it.
                self._input(f"read/{url_key(url)}", {"url": url}, tool="http_fetch"),
                LOOKUP_RETRY,
                f"research: read {url[:120]}",
            )
        except StepFailed as e:
            self._skipped.append({"url": url, "reason": e.reason})
            self._progress("skipped", round_, url=url, reason=e.reason)
            return None
        page = result.output if isinstance(result.output, dict) else {}
        self._read.append(url)
        self._progress("read", round_, url=url, title=page.get("title") or title)
        return ResearchPage(
            url=url,
            title=str(page.get("title") or title),
            text=str(page.get("text") or ""),
            question=question,
        )

    async def _notes(
        self, round_: int, pages: list[ResearchPage], found: list[SourcePassages]
    ) -> ResearchNotesResult:
        journal = self._journal
        notes = ResearchNotesInput(
            run_id=journal.state.run_id,
            step_id=self._step.id,
            tenant=self._run.tenant,
            user_id=self._run.user_id,
            budget=journal.budget(self._run),
            question=self._question,
            pages=pages,
            found=found,
            round=round_,
            quotes_per_source=self._args.quotes_per_source,
        )
        try:
            result: ResearchNotesResult = await step_activity(
                Activity.RESEARCH_NOTES,
                notes,
                ResearchNotesResult,
                self._step,
                MODEL_RETRY,
                summary=f"research: notes of round {round_}",
                queues=self._run.activity_queues,
            )
        except ActivityError as e:
            raise StepFailed(f"research notes failed: {failure_reason(e)}") from None
        return result

    # --- the model's questions ------------------------------------------------------------

    async def _propose(self, *, first: bool) -> list[str]:
        """Sub-questions of the question (first), or follow-up questions the notes leave open;
        the question itself when the model proposes nothing at first."""
        most = self._args.breadth
        if first:
            instruction = (
                f"Break this research question into at most {most} focused questions that a "
                "web search can answer, each on its own. Answer with JSON only.\n\n"
                f"Research question: {self._question}"
            )
            documents: list[dict[str, Any]] | None = None
        else:
            asked = "\n".join(f"- {q}" for q in self._asked)
            instruction = (
                f"Research question: {self._question}\nQuestions already searched:\n{asked}\n\n"
                "The numbered documents are the notes taken so far. Propose at most "
                f"{most} follow-up search questions about what the notes leave unanswered; an "
                "empty list if they answer the research question. Answer with JSON only."
            )
            documents = [s.model_dump() for s in self._sources.values()]
        round_ = 1 if first else len(self._notes_files) + 1
        try:
            result = await self._activity(
                Activity.LLM_COMPLETE,
                self._input(
                    f"questions/r{round_}",
                    {
                        "instruction": instruction,
                        "documents": documents,
                        "output_schema": _questions_schema(most),
                        "max_tokens": 60 * most + 40,
                        "temperature": 0.2,
                    },
                ),
                MODEL_RETRY,
                "research: propose questions" if first else "research: follow-up questions",
            )
        except StepFailed as e:
            # Research goes on without the model's questions: the question itself at first,
            # and no follow-up later (the report is written from the notes so far).
            self._progress("questions_failed", round_, reason=e.reason)
            return [self._question] if first else []
        self._usage += result.usage
        data = result.output.get("data") if isinstance(result.output, dict) else None
        proposed = data.get("questions", []) if isinstance(data, dict) else []
        seen = {q.casefold() for q in self._asked}
        questions: list[str] = []
        for q in proposed:
            text = " ".join(str(q).split())[:MAX_QUESTION_CHARS]
            if text and text.casefold() not in seen:
                seen.add(text.casefold())
                questions.append(text)
        questions = questions[:most]
        if first and not questions:
            return [self._question]
        return questions

    # --- plumbing -------------------------------------------------------------------------

    def _input(
        self, name: str, args: dict[str, Any], *, tool: str | None = None, tainted: bool = False
    ) -> StepInput:
        run, journal = self._run, self._journal
        run_id = journal.state.run_id
        return StepInput(
            run_id=run_id,
            step_id=self._step.id,
            tenant=run.tenant,
            user_id=run.user_id,
            args=args,
            tool=tool,
            idempotency_key=f"{run_id}/{self._step.id}/{name}",
            budget=journal.budget(run),
            cache=run.cache,
            skill=run.skill,
            versions=run.versions,
            tainted=tainted,
            egress_any_host=tainted,
        )

    async def _activity(
        self, activity: Activity, step_input: StepInput, retry: RetrySpec, summary: str
    ) -> StepResult:
        step_input.max_attempts = retry.max_attempts
        while True:
            try:
                result: StepResult = await step_activity(
                    activity,
                    step_input,
                    StepResult,
                    self._step,
                    retry,
                    summary=summary,
                    queues=self._run.activity_queues,
                )
                break
            except ActivityError as e:
                if await retry_when_cap_raised(
                    self._gate, e, self._step, self._raw_args, f"-{activity.value}"
                ):
                    continue
                if (withheld := egress_refused(e)) is not None:
                    raise SearchWithheld(withheld) from None
                raise StepFailed(failure_reason(e)) from None
        self._journal.record_findings(self._step.id, result.findings)
        return result

    def _progress(self, phase: str, round_: int, **data: Any) -> None:
        self._journal.emit(
            RunEventType.RESEARCH_PROGRESS,
            self._step.id,
            {"phase": phase, "round": round_, **data},
        )
