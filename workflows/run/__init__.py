"""The named parts of `AgentRunWorkflow` (workflows/agent_run.py), each plain workflow code:

- `journal`: the run's record: state, progress events, status and search attributes, the
  Temporal UI's current details, the decision trace.
- `approval_gate`: pending approvals, waiting for an answer, and checking answers.
- `planning`: the planner's plan and revisions of it.
- `steps`: one step of the plan as an activity or a child workflow, with the taint rules.
- `agent_step`: an `agent` step's policy for the shared agent loop (workflows/agent_loop.py).
- `calls`: an activity on behalf of a step, and what its failures mean.

The patch gates they check are listed in workflows/patches.py.
"""
