"""The console's Budgets page in a real browser: the month's spend by user and by model from the
ledger, a cap set through the form shown with what its user spent today, and deleted again."""

from __future__ import annotations

from datetime import UTC, datetime

from aios.stores.ledger import LedgerStore, Spender
from tests.conftest import Stack

# The signed-in page, and the skip where Chromium is missing.
from tests.console.test_console import page, pytestmark  # noqa: F401


async def test_budgets_page_shows_spend_and_sets_and_deletes_a_cap(
    page: object,  # noqa: F811
    stack: Stack,
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    ledger = LedgerStore(stack.pool)
    now = datetime.now(UTC)
    for i, (user, usd) in enumerate([("ada", 0.25), ("ada", 0.5), ("bob", 0.125)]):
        key = f"console/{i}"
        spender = Spender(tenant="default", user_id=user, run_id=f"run-{user}")
        await ledger.reserve(key, spender, "openai:gpt-4.1", 1.0, 2000, now=now)
        await ledger.settle(key, usd, 1000, 200)

    await page.click("nav >> text=Budgets")
    month = page.locator("#usage-month-user")
    await expect(month.locator("tr[data-group='ada'] .usd")).to_have_text("$0.7500")
    await expect(month.locator("tr[data-group='bob'] .usd")).to_have_text("$0.1250")
    await expect(
        page.locator("#usage-month-model tr[data-group='openai:gpt-4.1'] .usd")
    ).to_have_text("$0.8750")
    await expect(page.locator("#caps-empty")).to_be_visible()

    await page.click("#cap-editor summary")
    await page.select_option("#cap-scope", "user")
    await page.fill("#cap-subject", "ada")
    await page.fill("#cap-usd", "5")
    await page.click("#new-cap button")
    cap = page.locator("#caps tr[data-cap]")
    await expect(cap).to_have_count(1)
    await expect(cap).to_contain_text("ada")
    await expect(cap.locator(".used")).to_have_text("$0.7500 · 2,400 tokens")

    await cap.locator("button.delete-cap").click()
    await expect(page.locator("#caps-empty")).to_be_visible()
    assert await ledger.caps("default") == []
