"""data_report on CSV end to end through Temporal and the API: the scripted model writes analysis
code, it fails, the model fixes it, the sandbox runs it and saves a chart; the report links the
chart, which downloads as a PNG. And code_exec's roles: the shell is for operators."""

from __future__ import annotations

import httpx

from tests.conftest import Stack
from tests.helpers import as_key, make_key, wait_done
from tests.support.fake_openai import FakeOpenAI, ScriptedReply

CSV = "region,total\nnorth,120\nsouth,80\neast,40\n"
BROKEN = "import pandas as pd\ndf = pd.read_csv('data.csv')\nprint(df['sales'].sum())\n"
FIXED = (
    "import pandas as pd, matplotlib.pyplot as plt\n"
    "df = pd.read_csv('data.csv')\n"
    "print('total', df['total'].sum())\n"
    "print('top', df.sort_values('total').iloc[-1]['region'])\n"
    "df.plot.bar(x='region', y='total', legend=False).figure.savefig('sales.png')\n"
)


async def test_data_report_turns_a_csv_into_a_chart_and_a_paragraph(
    api: httpx.AsyncClient, stack: Stack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.queue(
        ScriptedReply(tool_calls=[{"name": "code_exec", "arguments": {"code": BROKEN}}]),
        ScriptedReply(tool_calls=[{"name": "code_exec", "arguments": {"code": FIXED}}]),
        ScriptedReply(content="North sells most: 120 of 240.\n\n![Sales by region](sales.png)"),
    )
    created = await api.post(
        "/v1/skills/data_report/runs",
        json={"inputs": {"question": "Which region sells most?", "source": "csv", "csv": CSV}},
    )
    assert created.status_code == 202, created.text
    run_id = created.json()["run_id"]
    run = await wait_done(api, run_id)
    assert run["status"] == "completed", run.get("error")
    assert [s["id"] for s in run["plan"]] == ["stage", "analysis", "report"]

    # The model read each run's output: the KeyError, then the numbers.
    results = [
        m["content"] for r in fake_openai.requests[1:] for m in r["messages"] if m["role"] == "tool"
    ]
    assert "KeyError" in results[0] and "total 240" in results[-1] and "top north" in results[-1]
    prompt = fake_openai.requests[0]["messages"]
    assert "3 rows, 2 columns" in str(prompt)

    answer = run["result"]["answer"]
    chart = f"/v1/runs/{run_id}/files/sales.png"
    assert "North sells most" in answer and f"![Sales by region]({chart})" in answer
    files = {f["path"] for f in (await api.get(f"/v1/runs/{run_id}/files")).json()["files"]}
    assert files == {"data.csv", "sales.png"}
    png = await api.get(chart)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


async def test_the_shell_is_for_operators(api: httpx.AsyncClient, stack: Stack) -> None:
    tools = {t["name"]: t for t in (await api.get("/v1/tools")).json()["tools"]}
    assert tools["shell_exec"]["roles"] == ["operator"] and tools["code_exec"]["roles"] == []
    assert not tools["code_exec"]["requires_approval"]
    user = as_key((await make_key(api, "default", "ursula"))["key"])
    listed = (await api.get("/v1/tools", headers=user)).json()["tools"]
    assert "code_exec" in {t["name"] for t in listed}
    assert "shell_exec" not in {t["name"] for t in listed}
    refused = await api.post(
        "/v1/tools/shell_exec/invoke", json={"args": {"command": "id"}}, headers=user
    )
    assert refused.status_code in (403, 404), refused.text
