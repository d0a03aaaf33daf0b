"""Quality in the console, in a real browser: an A/B eval of two prompt versions is listed, its
page follows it to completion and shows the summary per variant, the paired comparison naming the
better side, the rows (those that differ marked) and exports its rows as CSV; a weakly grounded
answer waits for review on the run's page, where the reviewer corrects it and the run returns the
correction."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

import pytest

# The signed-in page, and the skip where Chromium is missing.
from tests.console.test_console import page, pytestmark  # noqa: F401
from tests.evals.test_evals import MARK, script_by_prompt
from tests.quality.test_answer_review import _plan as review_plan
from tests.support.fake_openai import FakeOpenAI, ScriptedReply

AUTH = {"Authorization": "Bearer test-key"}
ROWS = 5  # the candidate answers plant 5 rightly, the others wrongly


async def test_an_ab_eval_is_shown_as_a_summary_and_rows_and_exported(
    page: object,  # noqa: F811
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    script_by_prompt(fake_openai, monkeypatch)
    label = f"cand-{uuid.uuid4().hex[:6]}"
    made = await page.request.post(
        "/v1/versions",
        # A text of its own: the same text registered by another test would be a 409.
        data={"name": "system", "label": label, "text": f"You answer briefly. {MARK} {label}"},
        headers=AUTH,
    )
    assert made.status == 201, await made.text()
    rows = [
        {"question": f"How often are seals replaced at plant {i}?", "expected": "4,000 hours"}
        for i in range(1, ROWS + 1)
    ] + [{"question": "<img src=x onerror=alert(1)>", "skill": "nope"}]
    name = f"golden-{uuid.uuid4().hex[:6]}"
    created = await page.request.post(
        "/v1/evals",
        data={
            "name": name,
            "jsonl": "\n".join(json.dumps(r) for r in rows),
            "skill": "answer_with_citations",
            "compare": [{"version": "latest"}, {"version": label}],
            "scorers": ["contains"],
            "concurrency": 8,
        },
        headers=AUTH,
    )
    assert created.status == 202, await created.text()
    eval_id = (await created.json())["eval_id"]

    await page.click("nav >> text=Evals")
    await page.click(f"#evals tr[data-eval='{eval_id}'] a")
    # The first retrieval of a session may load the embedding engine (~20 s on 2 cores).
    await expect(page.locator("h1 + p .status")).to_have_text("completed", timeout=60_000)

    summary = page.locator("#eval-summary tr[data-scorer='contains']")
    await expect(summary.locator("td[data-variant='latest'] strong")).to_have_text("1.00")
    await expect(summary.locator(f"td[data-variant='{label}'] strong")).to_have_text("0.20")
    verdict = page.locator("#eval-comparison tr[data-scorer='contains'] .verdict")
    await expect(verdict).to_have_attribute("data-better", "a")
    await expect(page.locator("#differing")).to_contain_text("1, 2, 3, 4")
    table = page.locator("#eval-rows")
    await expect(table.locator("tbody tr")).to_have_count(2 * (ROWS + 1))
    await expect(table.locator(f"tr.differs[data-variant='{label}']")).to_have_count(ROWS - 1)
    # The bad row is an errored row with its reason; its question is text, not markup.
    errored = table.locator(f"tr[data-row='{ROWS + 1}'][data-variant='latest']")
    await expect(errored.locator(".status")).to_have_text("errored")
    await expect(errored).to_contain_text("nope")
    await expect(errored).to_contain_text("<img src=x onerror=alert(1)>")

    async with page.expect_download() as info:
        await page.click("#export-csv")
    download = await info.value
    text = Path(await download.path()).read_text()
    assert download.suggested_filename == f"{eval_id}.csv"
    assert text.startswith("variant,row,status,question,run_id,error,contains")
    assert len(list(csv.reader(io.StringIO(text)))) == 1 + 2 * (ROWS + 1)


async def test_a_reviewer_corrects_a_weakly_grounded_answer_in_the_console(
    page: object,  # noqa: F811
    fake_openai: FakeOpenAI,
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    made = await page.request.post(
        "/v1/keys",
        data={"tenant": "default", "user_id": f"ada-{uuid.uuid4().hex[:6]}", "roles": ["user"]},
        headers=AUTH,
    )
    assert made.status == 201, await made.text()
    ada = {"Authorization": f"Bearer {(await made.json())['key']}"}
    # The model cites the manual for something the manual does not say: low confidence.
    fake_openai.queue(ScriptedReply(content="Pumps are painted blue every winter by robots [1]."))
    goal = "How often are the pumps inspected?"
    started = await page.request.post(
        "/v1/runs",
        data={
            "goal": goal,
            "plan": review_plan(goal),
            "review": {"when": "low_confidence", "threshold": 0.6},
        },
        headers=ada,
    )
    assert started.status == 202, await started.text()
    run_id = (await started.json())["run_id"]

    await page.goto(f"/#/runs/{run_id}")
    card = page.locator("[data-approval='answer-review-approval']")
    await expect(card).to_be_visible(timeout=30_000)
    edit = card.locator("textarea.review-answer")
    await expect(edit).to_have_value("Pumps are painted blue every winter by robots [1].")
    edited = "The maintenance team inspects every pump once a month [1]."
    await edit.fill(edited)
    await card.locator("button.approve").click()

    await expect(page.locator("h1 + p .status")).to_have_text("completed", timeout=30_000)
    await expect(page.locator("#answer")).to_contain_text("once a month")
    done = await (await page.request.get(f"/v1/runs/{run_id}", headers=ada)).json()
    assert done["result"]["answer"] == edited
    assert done["result"]["review"]["outcome"] == "edited"
    assert done["result"]["review"]["original_answer"].startswith("Pumps are painted blue")
