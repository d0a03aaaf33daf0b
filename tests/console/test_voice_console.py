"""Saying a question into the console: Chromium's fake microphone plays speech made by espeak-ng,
the console records it (MediaRecorder) and sends it to POST /v1/chat, the local engine
(PocketSphinx) transcribes it, and the chat shows what was heard and the reply."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Stack, app_for, serving
from tests.gateway.test_voice import spoken
from tests.support.fake_openai import FakeOpenAI, ScriptedReply

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SAID = "one two three four five"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() or shutil.which("espeak-ng") is None,
    reason="needs Debian's chromium and espeak-ng (make test installs both when run as root)",
)


async def test_a_question_said_into_the_console_is_heard_and_answered(
    stack: Stack, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    spoken(tmp_path, SAID)  # espeak-ng writes it to said.wav
    speech = tmp_path / "said.wav"
    fake_openai.queue(ScriptedReply(content="Five numbers, counted in order."))
    settings = stack.settings.model_copy(update={"transcription_engine": "local"})
    async with serving(app_for(stack, settings=settings)) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--use-fake-ui-for-media-stream",  # allow the microphone without asking
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={speech}",
            ],
        )
        # The loopback address is a secure context: the microphone may be used.
        page = await (await browser.new_context(base_url=url)).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto("/")
        await page.fill("#api-key", "test-key")
        await page.click("#sign-in button")
        await page.wait_for_selector("#runs")
        await page.click("nav >> text=Chat")
        mic = page.locator("#chat-mic")
        await mic.click()
        await expect(mic).to_contain_text("(3 s)", timeout=20_000)  # the phrase, played once
        await mic.click()
        heard = page.locator(".msg-user.spoken")
        await expect(page.locator(".msg-assistant")).to_contain_text("Five numbers", timeout=60_000)
        text = await heard.inner_text()
        await browser.close()
    assert len(set(text.split()) & set(SAID.split())) >= 3, text
    # What the console shows as heard is the message the model was asked about.
    assert fake_openai.requests[-1]["messages"][-1]["content"] == text
    assert not errors, f"the page raised: {errors}"
