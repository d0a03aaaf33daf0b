"""Notices go to the people an approval is routed to: users keep a contact address (their own, or
any user's by an admin of the tenant; bad input is a 422), and an approval for `group:finance`
emails each finance member at their own address, once per approval and recipient, not the legal
group and not the tenant's configured address; nobody with an address: that address, as before."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.approvals import ApprovalActivities
from aios.client import ApiClient
from aios.config import Settings
from aios.notices import ApprovalNotice, routed_users, slack_body
from cli import contacts as contact_cli
from cli.main import build_parser
from tests.conftest import Stack
from tests.helpers import as_key, make_key
from tests.tools.test_builtin_tools import smtp_server  # noqa: F401  (a local SMTP server)

FALLBACK = "approvers@acme.example"


@pytest.fixture
def settings(settings: Settings, smtp_server: tuple[int, list[Any]]) -> Settings:  # noqa: F811
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server[0],
            "smtp_from": "aios@acme.example",
            "notify_email_to": {"*": [FALLBACK]},
        }
    )


async def test_approvals_are_mailed_to_the_people_they_are_routed_to(
    api: httpx.AsyncClient,
    stack: Stack,
    smtp_server: tuple[int, list[Any]],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, messages = smtp_server
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    roles = {
        "adam": ["admin"],
        "ada": ["user"],
        "carol": ["approver"],
        "frank": ["user"],
        "dave": ["approver"],
    }
    keys = {u: as_key((await make_key(api, tenant, u, roles=r))["key"]) for u, r in roles.items()}
    for group, members in (("finance", ["carol", "frank"]), ("legal", ["dave"])):
        made = await api.post(
            "/v1/groups", json={"name": group, "members": members}, headers=keys["adam"]
        )
        assert made.status_code == 201, made.text

    # Contacts: one's own, or any user's of the tenant by an admin; nobody else's.
    url = "/v1/users/{}/contact"
    own = await api.put(
        url.format("carol"),
        json={"email": "Carol@Acme.example", "slack_user_id": "U0CAROL"},
        headers=keys["carol"],
    )
    assert own.status_code == 200, own.text
    assert own.json()["email"] == "Carol@acme.example" and own.json()["updated_by"] == "carol"
    body = {"email": "frank@acme.example"}
    assert (await api.put(url.format("frank"), json=body, headers=keys["ada"])).status_code == 404
    assert (await api.get(url.format("carol"), headers=keys["ada"])).status_code == 404
    by_admin = await api.put(url.format("frank"), json=body, headers=keys["adam"])
    assert by_admin.status_code == 200 and by_admin.json()["updated_by"] == "adam"
    bad: list[tuple[str, dict[str, Any], str]] = [
        ("carol", {"email": "carol@"}, "email"),
        ("carol", {"email": "c@acme.example", "slack_user_id": "@carol"}, "slack_user_id"),
        ("carol", {"email": "c@acme.example", "cc": "x"}, "cc"),
        ("ghost", {"email": "ghost@acme.example"}, "not a user of the tenant"),
    ]
    for user, wrong, words in bad:
        refused = await api.put(url.format(user), json=wrong, headers=keys["adam"])
        assert refused.status_code == 422, (wrong, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert words in refused.text, (wrong, refused.text)
    # Another tenant's admin does not see them.
    other = as_key((await make_key(api, f"{tenant}-b", "eve", roles=["admin"]))["key"])
    assert (await api.get(url.format("carol"), headers=other)).status_code == 404
    # The same through `aios contacts` (in process, on dave's own key).
    dave = keys["dave"]["Authorization"].split()[1]
    cli = ApiClient(str(api.base_url), dave, transport=api._transport)
    parser = build_parser()
    args = ["contacts", "set", "dave", "--email", "dave@acme.example"]
    assert await contact_cli.cmd_contacts(cli, parser.parse_args(args)) == 0
    assert "dave: dave@acme.example  (set by dave" in capsys.readouterr().out

    # An approval for group:finance is mailed to carol and frank, each once, not to dave.
    step = {"id": "sign", "kind": "approval", "approval": {"approvers": ["group:finance"]}}
    started = await api.post(
        "/v1/runs", json={"goal": "sign it", "plan": {"steps": [step]}}, headers=keys["ada"]
    )
    run_id = started.json()["run_id"]
    for _ in range(300):
        if len(messages) >= 2:
            break
        await asyncio.sleep(0.05)
    assert sorted(m.rcpt_tos for m in messages) == [["Carol@acme.example"], ["frank@acme.example"]]
    ids = {m.content.split(b"Message-ID: ")[1].split(b"\r\n")[0] for m in messages}
    assert len(ids) == 2  # one message per recipient, each with its own id

    # A retry sends nothing twice; a role's holders with an address are mailed; nobody with an
    # address: the tenant's configured one.
    activities = ApprovalActivities(stack.pool, stack.settings)
    now = datetime.now(UTC)
    notice = ApprovalNotice(
        tenant=tenant,
        run_id=run_id,
        goal="sign it",
        requester="ada",
        approval_id="sign-approval",
        step_id="sign",
        reason="r",
        requested_at=now,
        expires_at=now,
        approvers=["group:finance"],
    )
    again = await ActivityEnvironment().run(activities.notify_approval, notice)
    assert again.sent == [] and sorted(again.already) == [
        "email:Carol@acme.example",
        "email:frank@acme.example",
    ]
    messages.clear()
    by_role = notice.model_copy(update={"approval_id": "other", "approvers": ["role:approver"]})
    sent = await ActivityEnvironment().run(activities.notify_approval, by_role)
    assert sorted(sent.sent) == ["email:Carol@acme.example", "email:dave@acme.example"]
    nobody = notice.model_copy(update={"approval_id": "third", "approvers": ["group:none"]})
    sent = await ActivityEnvironment().run(activities.notify_approval, nobody)
    assert sent.sent == ["email"] and messages[-1].rcpt_tos == [FALLBACK]
    await api.post(f"/v1/runs/{run_id}/cancel", headers=keys["ada"])

    deleted = await api.delete(url.format("carol"), headers=keys["carol"])
    assert deleted.status_code == 204
    assert (await api.get(url.format("carol"), headers=keys["carol"])).status_code == 404


def test_routing_and_slack_mentions() -> None:
    users = {"carol": {"approver"}, "adam": {"admin"}, "ada": {"user"}}
    groups = {"finance": {"frank"}}
    assert routed_users([], users, groups) == {"carol", "adam"}
    assert routed_users(["role:operator"], users, groups) == {"adam"}
    assert routed_users(["group:finance", "zoe"], users, groups) == {"frank", "zoe"}
    now = datetime.now(UTC)
    notice = ApprovalNotice(
        tenant="t",
        run_id="run-1",
        goal="<!channel>",
        requester="ada",
        approval_id="a",
        step_id="s",
        reason="r",
        requested_at=now,
        expires_at=now,
    )
    text = str(slack_body(notice, "http://x", ["U0CAROL", "<!channel>"])["blocks"])
    assert "<@U0CAROL>" in text and "<!channel>" not in text
