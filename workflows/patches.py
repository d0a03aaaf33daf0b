"""Every `workflow.patched()` gate of the AIOS workflows, and what each one guards.

A patch gate keeps a workflow's recorded histories replayable across a change of behaviour:
runs that started before the change replay through the old path, runs started since take the
new one. The gates are listed here, not in the code they guard, so that retiring them (Worker
Deployment Versioning pins a run to the code that started it) is one file to read.

| patch id                       | workflow          | runs started before it ...                  |
|--------------------------------|-------------------|---------------------------------------------|
| `untrusted-input-approval`     | AgentRunWorkflow  | ran side effects derived from untrusted     |
|                                |                   | content without waiting for approval        |
| `waiting-since-attribute`      | AgentRunWorkflow  | did not set `AiosWaitingSince`              |
| `record-decision-trace`        | AgentRunWorkflow  | ended without recording a decision trace    |
| `local-planning-and-trace`     | AgentRunWorkflow  | checked plans and recorded the trace as     |
|                                |                   | activities on the task queue, and upserted  |
|                                |                   | tenant and user though the API had set them |
| `aios-patches-2026-11`         | AgentRunWorkflow  | (the four above at once; see below)         |
| `chat-tools`                   | ChatSession...    | answered each turn in one activity, without |
|                                |                   | tools                                       |
| `approval-shows-outputs`       | AgentRunWorkflow  | showed an approval's arguments only, and    |
|                                |                   | hashed them alone (not the outputs of the   |
|                                |                   | steps it depends on)                        |
| `standing-approvals`           | AgentRunWorkflow  | waited for a person without asking for a    |
|                                |                   | standing approval first                     |
| `notify-approvers`             | AgentRunWorkflow  | told nobody that an approval opened         |
| `signal-sender-identity`       | AgentRunWorkflow  | took an `approve` signal's reviewer as      |
|                                |                   | written in its payload                      |
| `ledger-parent-scope`          | AgentRunWorkflow  | gave a skill's child run a copy of the      |
|                                |                   | parent's `budget_usd`                       |
| `answer-review`                | AgentRunWorkflow  | returned the answer without a person's      |
|                                |                   | review, whatever its confidence             |
| `egress-after-taint`           | AgentRunWorkflow, | let tools that reach outside go anywhere    |
|                                | ChatSession...    | after untrusted content (no allow-list)     |
| `chat-taint-across-turns`      | ChatSession...    | forgot at the end of a turn that untrusted  |
|                                |                   | content entered the conversation            |
| `mcp-calls-in-doubt`           | AgentRunWorkflow  | failed a step whose MCP call was in doubt   |
|                                |                   | (no person asked whether to send it again)  |
| `approval-policies`            | AgentRunWorkflow  | took an approval's approvers, k, timeout    |
|                                |                   | and escalation from the plan alone (no      |
|                                |                   | tenant or repository policy, no groups)     |
| `ledger-agent-tools`           | AgentRunWorkflow  | charged an agent step's paid tool calls to  |
|                                |                   | the user and tenant only (not the run's     |
|                                |                   | budget), a refused one a failed call        |
| `planned-run-versions`         | AgentRunWorkflow  | kept the versions in their input (none for  |
|                                |                   | a scheduled run), whatever skill the        |
|                                |                   | planning activity picked                    |
| `context-trim-trace`           | AgentRunWorkflow  | cut a prompt's documents to fit the model's |
|                                |                   | window without a `context.trimmed` event    |
| `child-approvals-in-parent`    | SkillWorkflow     | did not tell their parent run that they     |
|                                |                   | waited for a person (it showed `running`)   |
| `self-approval-policy`         | AgentRunWorkflow  | let the development key answer its own      |
|                                |                   | runs by the API's say-so (no policy named)  |
| `research-egress-check`        | AgentRunWorkflow  | sent a research step's follow-up searches   |
|                                |                   | unchecked for the user's private data       |
| `budget-raise-approval`        | AgentRunWorkflow  | failed when a call crossed a spend cap,     |
|                                |                   | whatever the tenant's budget policy said    |
| `one-approval-after-taint`     | AgentRunWorkflow  | asked a second time, for the egress check,  |
|                                |                   | about a call approved after untrusted input |
"""

from __future__ import annotations

from temporalio import workflow

# Side effects derived from untrusted content (documents, pages, tool output) wait for approval.
UNTRUSTED_APPROVAL_PATCH = "untrusted-input-approval"
# The run sets AiosWaitingSince while it awaits an approval.
WAITING_SINCE_PATCH = "waiting-since-attribute"
# The run records its decision trace when it ends.
TRACE_PATCH = "record-decision-trace"
# Checking a client's (or the rule planner's) plan and recording the trace run as local
# activities in the worker that runs the workflow: no round trip through the server for work that
# takes a millisecond (bench/README.md has what this bought). Tenant and user are upserted only
# when the starter did not set them.
LEAN_PATCH = "local-planning-and-trace"
# Patches come in generations (GENERATIONS below): a run takes all of its generation's patches at
# once. Each patch marker also upserts Temporal's TemporalChangeVersion search attribute, a
# visibility write per patch per run (the throughput benchmark counted five upserts per run). Runs
# the API starts name their generation in their input (`AgentRunInput.patches`) and record no
# marker at all; runs started otherwise carry one marker, at their start. Runs of an older
# generation replay through the individual patches. Add a new patch to a new generation.
NOVEMBER_PATCHES = "aios-patches-2026-11"
# Chat turns are model rounds that may call tools (workflows/agent_loop.py); sessions started
# before send their turns to the one-call `aios.chat_turn` activity until they continue as new.
CHAT_TOOLS_PATCH = "chat-tools"
# An approval shows (and its args_hash covers) the outputs of the steps it depends on. Newer
# than CURRENT_PATCHES, so asked with `workflow.patched` itself (RunPatches.has answers true for
# every id once a run carries CURRENT_PATCHES), and only where there is an output to show.
APPROVAL_CONTEXT_PATCH = "approval-shows-outputs"
# Before waiting for a person about a tool call, the run asks for a standing approval (the
# `aios.use_standing_approval` activity). Asked with `workflow.patched` itself, only there.
STANDING_APPROVAL_PATCH = "standing-approvals"
# When an approval opens, the run tells its approvers (the `aios.notify_approval` activity, beside
# the wait). Asked with `workflow.patched` itself, only there.
NOTIFY_PATCH = "notify-approvers"
# An `approve` signal counts only once its sender is known (the `aios.signal_sender` activity
# reads the identity the Temporal server recorded): AIOS's own API, or the Temporal UI where
# AIOS_TEMPORAL_UI_APPROVALS allows it, recorded under that identity. Asked in the signal handler.
SIGNAL_IDENTITY_PATCH = "signal-sender-identity"
# A skill's child run draws on its parent's budget through the spend ledger (its model calls are
# reserved against the parent runs too) instead of getting a copy of `budget_usd`. Asked with
# `workflow.patched` itself, only when a run with a budget starts a skill.
LEDGER_SCOPE_PATCH = "ledger-parent-scope"
# A run whose `review` policy (its own, or its skill's) asks for it pauses before returning its
# answer at an approval of kind `review`, where a person approves, rejects or edits the answer
# (workflows/run/review.py). Asked only when the run has a review policy.
REVIEW_PATCH = "answer-review"
# Once untrusted content is in a step's (or a chat turn's) context, its calls of tools that reach
# outside (`http_fetch`, `web_search`, MCP tools) say so (`StepInput.tainted`, with the caller's
# roles): the tool goes only to the tenant's allowed domains, and a run asks a person for any
# other (a chat is refused). Asked where such a call is made; in chat with `workflow.patched`.
EGRESS_PATCH = "egress-after-taint"
# A chat session remembers that untrusted content entered its conversation (a retrieved passage,
# a tool's result): the turns after it are tainted from their start, since the model sees the
# poisoned text in the history, and the taint goes on through continue-as-new
# (`ChatSessionInput.tainted`). Asked with `workflow.patched`, only when a tainted session begins
# a turn or continues as new.
CHAT_TAINT_PATCH = "chat-taint-across-turns"
# An MCP call with side effects whose outcome is unknown (aios.sources.CallInDoubt: an attempt was
# cut off after journalling it) waits for a person: approved, it is sent once more; rejected (it
# happened, or must not), the step ends without sending it. Asked only when that happens.
MCP_IN_DOUBT_PATCH = "mcp-calls-in-doubt"
# Before an approval opens, the run asks which approval policy applies (the
# `aios.approval_policy` activity: the tenant's, else the repository's, for the run's schedule,
# skill or tool; aios/approval_policies.py) and takes its approvers, k, timeout and escalation
# in place of the plan's. Asked only where an approval opens.
APPROVAL_POLICIES_PATCH = "approval-policies"
# An agent step's tool calls carry the run's budget, so a paid call (a web search) is reserved in
# the spend ledger against the run and the runs above it too, and one refused for a budget stops
# the run with the reason (before: a failed call the agent saw). Asked where the call is made.
LEDGER_AGENT_TOOLS_PATCH = "ledger-agent-tools"
# The planning activity may resolve the run's versions (aios/versions.py): a run that carries none
# (a scheduled run's input was written when the schedule was) gets the latest at its start, and a
# skill the planner picks (by its triggers, as the fallback, a skill step's child run) brings its
# own pins. The run takes them (`PlanningResult.versions`) into its input and state. Asked only
# when the planning returned versions.
PLANNED_VERSIONS_PATCH = "planned-run-versions"
# A model call whose prompt cut documents to fit the model's window (StepResult.context_trim)
# is told in the run's events (`context.trimmed`: which sources, how many characters and tokens),
# so the trace says it. Asked only when a step's result carries such a cut.
CONTEXT_TRIM_PATCH = "context-trim-trace"
# A skill step's child run (SkillWorkflow) tells its parent run when it starts and stops waiting
# for a person (the parent's `child_approvals` signal), so the parent shows `awaiting_approval`
# (its status attribute, the run list, an approver's read) while its child waits. Asked by the
# child where its status changes to or from `awaiting_approval`.
CHILD_APPROVALS_PATCH = "child-approvals-in-parent"
# When an approval (or an answer review) opens, the run asks which policy, if any, lets its
# requester answer it (`aios.approval_policy` with the requester: the approval's own policy, or
# the development stack's tenant-wide `dev:self-approval`), and the pending approval names it
# (`self_approval_policy`); four eyes are off only where it does. Asked where an approval opens.
SELF_APPROVAL_POLICY_PATCH = "self-approval-policy"
# A research step's follow-up questions are written from notes of pages and documents (untrusted
# content): their web searches are checked for the user's private data they would carry (any
# host: research reads the open web), and one that would carry some is withheld and said so
# (`research.progress` phase `withheld`), the research going on without it. Asked from round 2.
RESEARCH_EGRESS_PATCH = "research-egress-check"
# A call refused by a spend cap (tenant, user, key or schedule) pauses the run for an approval to
# raise the cap, where a tenant's or the repository's `budget` approval policy says so
# (workflows/run/budget_approval.py); approved, the refused call is tried again. Without such a
# policy the run fails with the reason, as before. Asked where a call is refused.
BUDGET_APPROVAL_PATCH = "budget-raise-approval"
# A call a person approved after untrusted content entered the run (they were shown where it came
# from and the call's arguments) is not asked about again when the egress check refuses its host:
# one approval per call, where a tool with side effects was asked twice (side effect, then
# egress). Asked where the egress check refuses a call.
ONE_APPROVAL_AFTER_TAINT_PATCH = "one-approval-after-taint"


# The generations, oldest first, and the patches each holds. A run takes its generation's patches
# at once and asks for no patch marker in the middle of its history: a marker asked for right after
# a local activity (the rule planner's check) is not seen again on replay, and the run's next
# query or recovery fails with "patch marker encountered ... but there is no corresponding change
# command" (it did, for runs started without the API, once approvals gained patches mid-run).
_NOVEMBER = frozenset({UNTRUSTED_APPROVAL_PATCH, WAITING_SINCE_PATCH, TRACE_PATCH, LEAN_PATCH})
_DECEMBER = _NOVEMBER | {
    APPROVAL_CONTEXT_PATCH,
    STANDING_APPROVAL_PATCH,
    NOTIFY_PATCH,
    SIGNAL_IDENTITY_PATCH,
    LEDGER_SCOPE_PATCH,
}
# Open while the December 6 changes land: a new patch id goes into this set (no history recorded
# under this generation is kept until they have).
_DECEMBER_6 = _DECEMBER | {
    REVIEW_PATCH,
    EGRESS_PATCH,
    CHAT_TAINT_PATCH,
    MCP_IN_DOUBT_PATCH,
    APPROVAL_POLICIES_PATCH,
    LEDGER_AGENT_TOOLS_PATCH,
    PLANNED_VERSIONS_PATCH,
    CONTEXT_TRIM_PATCH,
    CHILD_APPROVALS_PATCH,
    SELF_APPROVAL_POLICY_PATCH,
    RESEARCH_EGRESS_PATCH,
    BUDGET_APPROVAL_PATCH,
    ONE_APPROVAL_AFTER_TAINT_PATCH,
}
GENERATIONS: dict[str, frozenset[str]] = {
    NOVEMBER_PATCHES: _NOVEMBER,
    "aios-patches-2026-12": _DECEMBER,
    "aios-patches-2026-12-review": _DECEMBER | {REVIEW_PATCH},
    "aios-patches-2026-12-06": _DECEMBER_6,
}
CURRENT_PATCHES = "aios-patches-2026-12-06"


class RunPatches:
    """The patch gates of one agent run. `has(patch_id)` is true at once, with no marker, for a
    patch of the run's generation (named in its input by the API, or one marker at its start);
    a run of an older generation asks `workflow.patched` for newer patches, as it always did."""

    def __init__(self) -> None:
        self._generation: frozenset[str] = frozenset()

    def start(self, named: str | None) -> None:
        """At the start of the run (its first activation): `named` is the generation named in
        its input, if any; otherwise the newest generation whose marker the history has (a new
        run records the current one)."""
        if named is not None:  # in the history, so deterministic without a marker
            self._generation = GENERATIONS.get(named, frozenset())
            return
        for generation in reversed(GENERATIONS):
            if workflow.patched(generation):
                self._generation = GENERATIONS[generation]
                return

    def has(self, patch_id: str) -> bool:
        return patch_id in self._generation or workflow.patched(patch_id)
