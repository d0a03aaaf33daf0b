"""Approval policies as data and groups of approvers: an admin's policy for a tool decides who
answers (a group) in place of the plan's terms, bad policies and groups are 422, and the run's
trace says which policy applied and who approved. The resolution order is checked without a
server; the repository's policy file is checked against the tools and skills."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from activities.planning_rules import check_run_request
from activities.tools import build_registry
from aios.approval_policies import (
    AppliedPolicy,
    PolicyFileError,
    PolicyRequest,
    StoredPolicy,
    eligible,
    load_repo_policies,
    resolve,
)
from aios.client import ApiClient, ApiError
from aios.config import Settings
from aios.errors import ValidationFailed
from aios.models import RunState
from aios.plan import ApprovalPolicy
from aios.skills import SkillCatalog
from aios.vocabulary import PlannerName
from cli.main import build_parser
from cli.policies import cmd_groups, cmd_policies
from cli.runs import print_run
from tests.helpers import as_key, make_key

ROOT = Path(__file__).resolve().parents[2]


def policy(source: str, subject: str, name: str, **rule: Any) -> StoredPolicy:
    return StoredPolicy.model_validate(
        {"id": f"{source}:{subject}:{name}", "source": source, "subject": subject, "name": name}
        | rule
    )


def test_resolution_order_and_what_a_policy_replaces(tmp_path: Path) -> None:
    tenant = [policy("tenant", "tool", "send_email"), policy("tenant", "skill", "weekly")]
    repo = [policy("repo", "schedule", "sched-1"), policy("repo", "tool", "publish_report")]
    ask = PolicyRequest(tenant="acme", tool="send_email", skill="weekly", schedule_id="sched-1")
    # The tenant's before the repository's; within one source the narrowest subject.
    assert resolve(ask, tenant, repo) is tenant[1]
    assert resolve(ask.model_copy(update={"skill": None}), tenant, repo) is tenant[0]
    assert resolve(PolicyRequest(tenant="acme", schedule_id="sched-1"), tenant, repo) is repo[0]
    assert resolve(PolicyRequest(tenant="acme", tool="publish_report"), [], repo) is repo[1]
    assert resolve(PolicyRequest(tenant="acme", tool="http_post"), tenant, repo) is None

    # A policy takes approvers, k and the chain; timeout and its action only when it sets them;
    # the reason and what a rejection does stay the plan's.
    plan = ApprovalPolicy(
        reason="r", approvers=["dave"], timeout_s=5, on_timeout="fail", on_reject="skip"
    )
    rule = policy("tenant", "tool", "x", approvers=["group:finance"], approvals_required=2)
    over = AppliedPolicy(policy=rule).over(plan)
    assert (over.approvers, over.approvals_required, over.timeout_s) == (["group:finance"], 2, 5)
    assert (over.reason, over.on_reject, over.on_timeout) == ("r", "skip", "fail")

    users = {"carol": {"approver"}, "erin": {"user"}, "olga": {"operator"}, "adam": {"admin"}}
    groups = {"finance": {"carol", "erin"}}
    answering = {"approver", "admin"}
    # Named by a policy: whatever their roles; nobody named: those with an answering role.
    assert eligible(["group:finance"], users, groups, answering) == {"carol", "erin"}
    assert eligible([], users, groups, answering) == {"carol", "adam"}
    assert eligible(["role:operator", "ghost"], users, groups, answering) == {"olga", "adam"}

    bad = tmp_path / "p.yaml"
    bad.write_text("policies:\n  - {subject: tool, name: a}\n  - {subject: tool, name: a}\n")
    with pytest.raises(PolicyFileError, match="two policies"):
        load_repo_policies(bad)
    bad.write_text("policies:\n  - {subject: tool, name: a, approvers: ['group:Bad Name']}\n")
    with pytest.raises(PolicyFileError, match="group"):
        load_repo_policies(bad)
    assert load_repo_policies(tmp_path / "absent.yaml") == []


def test_the_repository_policy_file_names_known_tools_and_skills() -> None:
    settings = Settings()
    shipped = load_repo_policies(settings.approval_policies_file)
    assert settings.approval_policies_file == ROOT / "policies" / "approvals.yaml"
    skills = {s.name for s in SkillCatalog.load(settings.skills_dir).all()}
    tools = {s.name for s in build_registry(settings=settings).specs(None)}
    for p in shipped:
        known = tools if p.subject == "tool" else skills if p.subject == "skill" else None
        assert known is None or p.name in known, p


def test_skill_inputs_are_checked_whichever_way_the_skill_was_chosen() -> None:
    """Fault probe: `publish: "yes please"` passed when the rule planner chose research_report
    by its triggers rather than by name."""
    settings = Settings()
    skills = SkillCatalog.load(settings.skills_dir)
    registry = build_registry(settings=settings)
    for skill in ("research_report", None):  # named; chosen by its triggers
        with pytest.raises(ValidationFailed, match="publish: Input should be a valid boolean"):
            check_run_request(
                registry,
                skills,
                goal="How are pumps maintained?",
                planner=PlannerName.HYBRID,
                skill=skill,
                inputs={"publish": "yes please"},
                plan=None,
            )


async def _pending(api: httpx.AsyncClient, run: str, key: dict[str, str]) -> dict[str, Any]:
    for _ in range(300):
        state: dict[str, Any] = (await api.get(run, headers=key)).json()
        if state["pending_approvals"]:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"{run} never waited for approval: {state}")


async def test_a_tenant_policy_names_a_group_and_the_trace_says_so(
    api: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    roles = {
        "adam": ["admin"],
        "ada": ["user"],
        "carol": ["approver"],
        "dave": ["approver"],
        "erin": ["user"],
    }
    keys = {u: as_key((await make_key(api, tenant, u, roles=r))["key"]) for u, r in roles.items()}
    admin = keys["adam"]

    # Groups: members are users of the tenant; only admins manage them.
    refused = await api.post(
        "/v1/groups", json={"name": "finance", "members": ["carol", "ghost"]}, headers=admin
    )
    assert refused.status_code == 422 and "'ghost' is not a user" in refused.json()["detail"]
    assert refused.headers["content-type"] == "application/problem+json"
    group = {"name": "finance", "members": ["carol", "erin"]}
    assert (await api.post("/v1/groups", json=group, headers=keys["ada"])).status_code == 403
    created = await api.post("/v1/groups", json=group, headers=admin)
    assert created.status_code == 201 and created.json()["members"] == ["carol", "erin"]
    assert (await api.post("/v1/groups", json=group, headers=admin)).status_code == 409

    # Bad policies: each a 422 naming what is wrong.
    url = "/v1/policies"
    base = {"subject": "tool", "name": "guarded_echo", "approvers": ["group:finance"]}
    bad: list[tuple[dict[str, Any], str]] = [
        ({"name": "no_such_tool"}, "unknown tool 'no_such_tool'"),
        ({"name": "echo"}, "never asks for approval"),
        ({"subject": "skill", "name": "teleport"}, "unknown skill 'teleport'"),
        ({"subject": "schedule", "name": "sched-nope"}, "no schedule 'sched-nope'"),
        ({"approvers": ["role:legal"]}, "unknown role 'legal'"),
        ({"approvers": ["group:nope"]}, "unknown group 'nope'"),
        ({"approvers": ["ghost"]}, "'ghost' is not a user"),
        # carol and erin are finance: two who may answer for k = 3.
        ({"approvals_required": 3}, "only 2 user(s) of the tenant may answer"),
        (
            {"escalate": [{"approvers": ["group:nope"], "timeout_s": 60}]},
            "unknown group 'nope'",
        ),
        ({"on_timeout": "shrug"}, "on_timeout"),
    ]
    for changes, words in bad:
        response = await api.post(url, json=base | changes, headers=admin)
        assert response.status_code == 422, (changes, response.text)
        assert words in str(response.json()), (changes, response.json())
    assert (await api.post(url, json=base, headers=keys["carol"])).status_code == 403
    two = {"approvals_required": 2, "note": "finance signs"}
    made = await api.post(url, json=base | two, headers=admin)
    assert made.status_code == 201, made.text
    pol = made.json()
    assert pol["id"].startswith("pol_") and pol["created_by"] == "adam"
    assert (await api.post(url, json=base, headers=admin)).status_code == 409
    assert (await api.get(f"{url}/{pol['id']}", headers=admin)).json()["note"] == "finance signs"
    listed = (await api.get(url, headers=admin)).json()["policies"]
    assert listed[0]["id"] == pol["id"] and listed[0]["source"] == "tenant"
    # A policy for one of the tenant's schedules.
    schedule = await api.post(
        "/v1/schedules", json={"goal": "g", "interval_s": 3600, "paused": True}, headers=admin
    )
    schedule_id = schedule.json()["schedule_id"]
    for_schedule = await api.post(
        url,
        json={"subject": "schedule", "name": schedule_id, "approvers": ["carol"]},
        headers=admin,
    )
    assert for_schedule.status_code == 201, for_schedule.text
    assert (
        await api.delete(f"{url}/{for_schedule.json()['id']}", headers=admin)
    ).status_code == 204
    await api.delete(f"/v1/schedules/{schedule_id}", headers=admin)
    # The same through `aios policies` and `aios groups` (in process, on the admin's key).
    cli = ApiClient(str(api.base_url), admin["Authorization"].split()[1], transport=api._transport)
    parser = build_parser()
    assert await cmd_policies(cli, parser.parse_args(["policies"])) == 0
    assert await cmd_groups(cli, parser.parse_args(["groups"])) == 0
    out = capsys.readouterr().out
    assert f"{pol['id']}  tool guarded_echo: 2 of group:finance" in out, out
    assert "group:finance  carol, erin" in out, out
    with pytest.raises(ApiError, match="never asks for approval"):
        await cmd_policies(cli, parser.parse_args(["policies", "create", "--tool", "echo"]))

    # A plan's approval naming a role nobody can hold, or a group the tenant lacks: 422.
    for names, words in [(["role:legal"], "unknown role 'legal'"), (["group:x"], "group 'x'")]:
        steps = [{"id": "ok", "kind": "approval", "approval": {"approvers": names}}]
        refused = await api.post(
            "/v1/runs", json={"goal": "g", "plan": {"steps": steps}}, headers=keys["ada"]
        )
        assert refused.status_code == 422 and words in refused.json()["detail"], refused.text

    # A run whose plan names dave: the tenant's policy for the tool decides (finance) instead.
    plan = {
        "steps": [
            {
                "id": "send",
                "kind": "tool",
                "tool": "guarded_echo",
                "args": {"value": "to all"},
                "approval": {"approvers": ["dave"]},
            }
        ]
    }
    started = await api.post("/v1/runs", json={"goal": "g", "plan": plan}, headers=keys["ada"])
    run = f"/v1/runs/{started.json()['run_id']}"
    state = await _pending(api, run, keys["ada"])
    [pending] = state["pending_approvals"]
    assert pending["approvers"] == ["group:finance"]
    assert pending["policy"] == f"tenant policy {pol['id']} (tool guarded_echo)"
    print_run(RunState.model_validate(state))  # aios show
    assert f"under tenant policy {pol['id']}" in capsys.readouterr().out
    inbox = {
        u: [
            i["approval_id"]
            for i in (await api.get("/v1/approvals", headers=keys[u])).json()["approvals"]
        ]
        for u in ("carol", "dave", "erin", "ada")
    }
    # erin has no approver role, but the admin's policy names her group; ada asked (four eyes).
    mine = [pending["approval_id"]]
    assert inbox == {"carol": mine, "dave": [], "erin": mine, "ada": []}
    answer = {"decision": "approve", "args_hash": pending["args_hash"]}
    answer_url = f"{run}/approvals/{pending['approval_id']}"
    refused = await api.post(answer_url, json=answer, headers=keys["dave"])
    assert refused.status_code == 403 and "is for group:finance" in refused.json()["detail"]
    assert (await api.post(answer_url, json=answer, headers=keys["ada"])).status_code == 403
    first = await api.post(answer_url, json=answer, headers=keys["carol"])
    assert first.status_code == 200 and "still waiting" in first.json()["detail"], first.text
    again = await api.post(answer_url, json=answer, headers=keys["carol"])  # counts once
    assert again.status_code == 409 and "carol already approved" in again.json()["detail"]
    assert (await api.post(answer_url, json=answer, headers=keys["erin"])).status_code == 200
    done = (await api.get(f"{run}?wait_s=20", headers=keys["ada"])).json()
    assert done["status"] == "completed", done
    said = [
        e["summary"]
        for e in (await api.get(f"{run}/trace", headers=keys["ada"])).json()["entries"]
        if e.get("kind") == "approval"
    ]
    assert any(
        f"under tenant policy {pol['id']} (tool guarded_echo): 2 of group:finance" in s
        for s in said
    ), said
    assert any("approve by carol (1 of 2, still waiting)" in s for s in said), said
    assert any(s.endswith("approve by erin") for s in said), said

    # A plan's own approvers only narrow: naming erin there does not let her answer.
    plan = {"steps": [{"id": "ok", "kind": "approval", "approval": {"approvers": ["erin"]}}]}
    started = await api.post("/v1/runs", json={"goal": "g", "plan": plan}, headers=keys["ada"])
    run = f"/v1/runs/{started.json()['run_id']}"
    [pending] = (await _pending(api, run, keys["ada"]))["pending_approvals"]
    assert pending["policy"] is None
    assert (await api.get("/v1/approvals", headers=keys["erin"])).json()["approvals"] == []
    answer = {"decision": "approve", "args_hash": pending["args_hash"]}
    answer_url = f"{run}/approvals/{pending['approval_id']}"
    assert (await api.post(answer_url, json=answer, headers=keys["erin"])).status_code == 404
    await api.post(f"{run}/cancel", headers=keys["ada"])

    # A group a policy names stays until the policy goes; another tenant sees neither.
    assert (await api.delete("/v1/groups/finance", headers=admin)).status_code == 409
    assert (await api.delete("/v1/groups/fin%25", headers=admin)).status_code == 404
    other = as_key((await make_key(api, f"{tenant}-b", "eve", roles=["admin"]))["key"])
    assert (await api.get(f"{url}/{pol['id']}", headers=other)).status_code == 404
    assert (await api.delete(f"{url}/{pol['id']}", headers=other)).status_code == 404
    assert (await api.get("/v1/groups/finance", headers=other)).status_code == 404
    assert (await api.delete(f"{url}/{pol['id']}", headers=admin)).status_code == 204
    assert (await api.delete("/v1/groups/finance", headers=admin)).status_code == 204

    # Only a policy can turn four eyes off, and says so: ada approves her own run.
    own = {"approvers": ["ada"], "allow_self_approval": True}
    made = await api.post(url, json=base | own, headers=admin)
    assert made.status_code == 201, made.text
    send = {"id": "send", "kind": "tool", "tool": "guarded_echo", "args": {"value": "mine"}}
    own_run = {"goal": "g", "plan": {"steps": [send]}}
    started = await api.post("/v1/runs", json=own_run, headers=keys["ada"])
    run = f"/v1/runs/{started.json()['run_id']}"
    [pending] = (await _pending(api, run, keys["ada"]))["pending_approvals"]
    assert pending["self_approval"] is True and pending["approvers"] == ["ada"]
    listed = (await api.get("/v1/approvals", headers=keys["ada"])).json()["approvals"]
    assert [i["approval_id"] for i in listed] == [pending["approval_id"]]
    answer = {"decision": "approve", "args_hash": pending["args_hash"]}
    answer_url = f"{run}/approvals/{pending['approval_id']}"
    assert (await api.post(answer_url, json=answer, headers=keys["ada"])).status_code == 200
    assert (await api.get(f"{run}?wait_s=20", headers=keys["ada"])).json()["status"] == "completed"
