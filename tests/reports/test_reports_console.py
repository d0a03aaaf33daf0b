"""The console shows answers and reports as rendered, sanitized HTML: headings and emphasis
render, a model's markup meant for the reader's browser is neither shown as markup nor run."""

from __future__ import annotations

import json

from tests.console.test_console import page  # noqa: F401  (the signed-in browser page)
from tests.support.fake_openai import FakeOpenAI, ScriptedReply

pytestmark = __import__("tests.console.test_console", fromlist=["pytestmark"]).pytestmark

PLAN = {"steps": [{"id": "report", "kind": "llm", "args": {"instruction": "Write the report."}}]}
ANSWER = (
    "## Findings\n\nRuns are **durable** [1].\n\n"
    '<img src=x onerror="window.pwned=1"> [click](javascript:window.pwned=2)\n\n## Sources\n'
)


async def test_answers_and_reports_are_rendered_and_sanitized(
    page: object,  # noqa: F811
    fake_openai: FakeOpenAI,
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    fake_openai.queue(ScriptedReply(content=ANSWER, chunk_delay_s=0))
    await page.fill("#goal", "Report on durability")
    # Opened, not toggled: a click on the summary closes a form that is already open.
    await page.locator("#new-run details").evaluate("details => { details.open = true; }")
    await page.fill("#plan", json.dumps(PLAN))
    await page.click("#start-run")
    await expect(page.locator("h1 + p .status")).to_have_text("completed", timeout=30_000)

    answer = page.locator("#answer-body")
    await expect(answer.locator("h2")).to_have_text("Findings")  # rendered, not "## Findings"
    await expect(answer.locator("strong")).to_have_text("durable")
    assert await answer.locator("img").count() == 0
    assert await answer.locator("a[href^='javascript']").count() == 0
    # The empty section is dropped (the server's rendering replaces the streamed text).
    await expect(answer).not_to_contain_text("Sources")

    await page.click("nav >> text=Reports")
    await page.locator("#reports a", has_text="Report on durability").first.click()
    body = page.locator("#report-body")
    await expect(body.locator("h2")).to_have_text("Findings")
    assert await body.locator("img").count() == 0
    async with page.expect_download() as download:
        await page.get_by_text("Download Markdown").click()
    saved = await (await download.value).path()
    assert "## Findings" in saved.read_text()

    # A chat reply is rendered too.
    fake_openai.queue(ScriptedReply(content="Seals last **4,000 hours**.", chunk_delay_s=0))
    await page.click("nav >> text=Chat")
    await page.fill("#chat-input", "How long do seals last?")
    await page.click("#chat button")
    # A first chat turn may load the embedding engine: more than expect's default 5 s on 2 cores.
    await expect(page.locator(".msg-assistant .rendered strong").last).to_have_text(
        "4,000 hours", timeout=30_000
    )
    assert await page.evaluate("window.pwned") is None
