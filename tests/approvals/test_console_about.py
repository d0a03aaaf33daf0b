"""The console shows what an approval is about as text: a hostile draft's markup is not run; and
which policy, if any, lets the requester approve it."""

from __future__ import annotations

import json

from tests.approvals.test_approval_context import PLAN
from tests.console.test_console import page  # noqa: F401  (the signed-in browser page)

pytestmark = __import__("tests.console.test_console", fromlist=["pytestmark"]).pytestmark


async def test_the_console_shows_the_draft_as_text(page: object) -> None:  # noqa: F811
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await page.fill("#goal", "send the note")
    await page.click("#new-run summary")
    await page.fill("#plan", json.dumps(PLAN))
    await page.click("#start-run")

    about = page.locator("[data-approval] [data-about=draft]")
    await expect(about).to_be_visible(timeout=30_000)
    await expect(about).to_contain_text("Output of Draft the note (draft)")
    await expect(about).to_contain_text("first 4000 of")
    await expect(about.locator(".approval-output")).to_contain_text('<img src=x onerror="window')
    assert await about.locator("img").count() == 0
    assert await page.evaluate("window.pwned") is None
    # The console's key is the development key: its own run is under dev:self-approval.
    await expect(page.locator("[data-approval] [data-self-approval]")).to_contain_text(
        "Self-approval allowed by policy dev:self-approval"
    )
    await page.locator("[data-approval] button.approve").click()
    await expect(page.locator("h1 + p .status")).to_have_text("completed", timeout=30_000)
