"""The console's inbox in a real browser: an approval waiting for the signed-in approver is listed
with its card, approved in place, and the inbox empties while the run completes."""

from __future__ import annotations

import asyncio

# The signed-in page, and the skip where Chromium is missing.
from tests.console.test_console import page, pytestmark  # noqa: F401
from tests.helpers import APPROVAL_PLAN

AUTH = {"Authorization": "Bearer test-key"}


async def test_the_inbox_lists_an_approval_and_answers_it_in_place(
    page: object,  # noqa: F811
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    started = await page.request.post(
        "/v1/runs",
        data={"goal": "send the note to everyone", "plan": APPROVAL_PLAN},
        headers=AUTH,
    )
    assert started.status == 202, await started.text()
    run_id = (await started.json())["run_id"]

    for _ in range(300):  # the run reaches its approval
        state = await (await page.request.get(f"/v1/runs/{run_id}", headers=AUTH)).json()
        if state["pending_approvals"]:
            break
        await asyncio.sleep(0.1)

    # Signing in routes to the runs page twice (the hash change and the form's own call); the
    # second render could land after the inbox's and replace it: let both finish first.
    await page.wait_for_load_state("networkidle")
    await page.click("nav >> text=Inbox")
    # The inbox asks Temporal for every waiting run of the tenant: seconds on a loaded machine.
    await expect(page.locator("h1")).to_have_text("Approvals waiting for you", timeout=30_000)
    item = page.locator(f".inbox-item[data-run='{run_id}']")
    await expect(item.locator("[data-approval]")).to_be_visible()
    await expect(item.locator(".approval-args")).to_contain_text('"value": "to all"')
    await item.locator("button.approve").click()
    await expect(item).to_have_count(0, timeout=30_000)

    done = await page.request.get(f"/v1/runs/{run_id}?wait_s=30", headers=AUTH)
    assert (await done.json())["status"] == "completed"
