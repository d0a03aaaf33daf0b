"""The console shows what an approval is about as text: a hostile draft's markup is not run."""

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
    await page.locator("[data-approval] button.approve").click()
    await expect(page.locator("h1 + p .status")).to_have_text("completed", timeout=30_000)
