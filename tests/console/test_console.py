"""The web console in a real browser: Playwright driving Debian's Chromium signs in, starts a run,
watches it progress, approves its step and sees it complete; uploads a document and chats."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Stack, app_for, serving
from tests.helpers import APPROVAL_PLAN
from tests.support.fake_openai import FakeOpenAI, ScriptedReply

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="the console tests need Debian's chromium (`apt-get install -y chromium`); "
    ".ci/run installs it when it runs as root",
)


@pytest.fixture
async def page(stack: Stack) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with serving(app_for(stack)) as url, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        context = await browser.new_context(base_url=url)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto("/")
        await page.fill("#api-key", "test-key")
        await page.click("#sign-in button")
        await page.wait_for_selector("#runs")
        yield page
        await browser.close()
        assert not errors, f"the page raised: {errors}"


async def test_start_a_run_watch_it_and_approve_its_step(page: object) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await page.fill("#goal", "send the note to everyone")
    await page.click("#new-run summary")
    await page.fill("#plan", json.dumps(APPROVAL_PLAN))
    await page.click("#start-run")

    approval = page.locator("[data-approval]")
    await expect(approval).to_be_visible(timeout=30_000)
    await expect(approval.locator(".approval-args")).to_contain_text('"value": "to all"')
    await expect(page.locator("h1 + p .status")).to_have_text("awaiting_approval")
    ui_link = await page.get_by_text("open in the Temporal UI").get_attribute("href")
    assert ui_link and "/workflows/run-" in ui_link

    await approval.locator("button.approve").click()
    await expect(page.locator("h1 + p .status")).to_have_text("completed", timeout=30_000)
    await expect(page.locator("[data-step=send] .status")).to_have_text("completed")
    await expect(page.locator("#answer")).to_contain_text("to all")

    run_id = page.url.split("#/runs/")[1]
    await page.click("nav >> text=Runs")
    # Other tests' runs share the list (running ones first): find this run's row.
    await expect(page.locator(f"#runs tr[data-run='{run_id}'] .status")).to_have_text("completed")


async def test_upload_a_document_then_chat_about_it(
    page: object, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    note = tmp_path / "pumps.md"
    note.write_text("# Pumps\n\nThe pump P-7 needs new seals every 4,000 hours of operation.")
    await page.click("nav >> text=Documents")
    await page.set_input_files("#files", str(note))
    await page.click("#upload button")
    await expect(page.locator("#upload-note")).to_contain_text("completed", timeout=60_000)
    await expect(page.locator("#documents")).to_contain_text("pumps.md")

    fake_openai.queue(ScriptedReply(content="Every 4,000 hours [1].", chunk_delay_s=0.02))
    await page.click("nav >> text=Chat")
    await page.fill("#chat-input", "How often are the seals replaced?")
    await page.click("#chat button")
    reply = page.locator(".msg-assistant").last
    await expect(reply).to_contain_text("Every 4,000 hours", timeout=30_000)
    await expect(reply.locator("li")).to_contain_text("Pumps")
