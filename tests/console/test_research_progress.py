"""A research step's progress on the console's run page (issue 25): for a deep_research run on
the scripted SearXNG and site of tests/skills/test_deep_research.py, still open (its report
awaits approval to be published), the page shows from the run's live event stream its
sub-questions, the pages it read (URL and title) or skipped and why, and its notes files, which
download with the signed-in key."""

from __future__ import annotations

import json

import httpx

from tests.conftest import Stack, app_for, serving
from tests.console.test_console import CHROMIUM, pytestmark  # noqa: F401  (skip without chromium)
from tests.reports.test_reports import _finished, receiver  # noqa: F401  (research_api's)
from tests.skills.test_deep_research import research_api, site  # noqa: F401  (fixtures)
from tests.support.fake_openai import FakeOpenAI, ScriptedReply
from tests.tools.scripted_http import Request


async def test_the_run_page_shows_questions_sources_read_and_notes_files(
    research_api: tuple[httpx.AsyncClient, Stack],  # noqa: F811
    site: tuple[str, list[Request]],  # noqa: F811
    fake_openai: FakeOpenAI,
) -> None:
    from playwright.async_api import async_playwright, expect

    api, stack = research_api
    base, _seen = site
    fake_openai.queue(
        ScriptedReply(content=json.dumps({"questions": ["AI funding 2026", "Leading sectors"]})),
        ScriptedReply(content="1. Funding\n2. Sectors"),
        ScriptedReply(content="AI startups raised 100 billion dollars [1]."),
    )
    # Publishing waits for an approval: the run is still open, its event stream live.
    created = await api.post(
        "/v1/skills/deep_research/runs",
        json={"inputs": {"topic": "AI funding", "depth": 1, "publish": True}},
    )
    assert created.status_code == 202, created.text
    run_id = created.json()["run_id"]
    run = await _finished(api, run_id, "awaiting_approval", "failed", "completed")
    assert run["status"] == "awaiting_approval", run.get("error")

    async with serving(app_for(stack)) as url, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = await (await browser.new_context(base_url=url, accept_downloads=True)).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto("/")
        await page.fill("#api-key", "test-key")
        await page.click("#sign-in button")
        await page.wait_for_selector("#runs")
        await page.goto(f"/#/runs/{run_id}")

        research = page.locator("#research [data-research=research]")
        await expect(research.locator(".research-state")).to_contain_text(
            "done after 1 round(s)", timeout=30_000
        )
        await expect(research.locator(".research-questions li")).to_have_count(2)
        await expect(research.locator(".research-questions")).to_contain_text("Leading sectors")
        read = research.locator(".research-read li")
        await expect(read).to_have_count(2)
        funding = research.locator(".research-read a", has_text="AI funding in 2026")
        assert await funding.get_attribute("href") == f"{base}/funding"
        await expect(research.locator(".research-skipped")).to_contain_text(f"{base}/private/leak")
        await expect(research.locator(".research-skipped")).to_contain_text("robots")
        notes = research.locator(".research-notes a[data-file='research/notes-1.md']")
        assert await notes.get_attribute("href") == f"/v1/runs/{run_id}/files/research/notes-1.md"
        async with page.expect_download() as downloading:
            await notes.click()
        saved = await (await downloading.value).path()
        assert "AI startups raised 100 billion dollars in 2026." in saved.read_text()
        await browser.close()
    assert not errors, f"the page raised: {errors}"
