// Evals: the caller's evaluations (GET /v1/evals; an operator's or admin's: the tenant's), one
// eval's summary (per variant and scorer the mean with its 95% interval; for an A/B the paired
// comparison and the rows where the two differ) and its rows, exportable as CSV or JSON Lines
// (GET /v1/evals/{id}/export). A new eval can be started from a dataset pasted as JSON Lines.
// Questions, answers and errors are untrusted text: they go in through h() (textContent) only.

import { api, h, nodes, toast, statusBadge, when, onLeave, ApiError } from "../lib.js";

const QUALITY = ["exact", "contains", "regex", "json_schema", "retrieval_hit", "grounding", "judge"];
const METRICS = ["latency_ms", "tokens", "cost_usd", "confidence"];
const DEFAULT_SCORERS = ["contains", "retrieval_hit", "grounding"];

function number(value, scorer) {
  if (value === null || value === undefined) return "–";
  if (scorer === "cost_usd") return `$${value.toFixed(4)}`;
  if (scorer === "latency_ms" || scorer === "tokens") return String(Math.round(value));
  return value.toFixed(2);
}

function interval(s, scorer) {
  if (!s || s.mean === null || s.mean === undefined) return h("span", { class: "muted" }, "no rows");
  const ci = s.ci_low !== null && s.ci_low !== undefined
    ? ` [${number(s.ci_low, scorer)}, ${number(s.ci_high, scorer)}]` : "";
  return h("span", {}, h("strong", {}, number(s.mean, scorer)),
    h("span", { class: "muted" }, `${ci} n=${s.n}`));
}

function pValue(p) {
  if (p === null || p === undefined) return "–";
  return p < 0.001 ? "< 0.001" : p.toFixed(3);
}

// The scorers an eval shows: its quality scorers in the API's order, then the metrics.
function shownScorers(ev) {
  return [...QUALITY.filter((s) => ev.scorers.includes(s)), ...METRICS];
}

async function download(evalId, format) {
  try {
    const response = await api("GET", `/v1/evals/${encodeURIComponent(evalId)}/export?format=${format}`,
      undefined, { raw: true });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
    const url = URL.createObjectURL(await response.blob());
    h("a", { href: url, download: `${evalId}.${format}` }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    toast(err.message);
  }
}

// --- the list and a new eval ----------------------------------------------------------------------

function newEvalForm() {
  const name = h("input", { type: "text", id: "eval-name", value: "eval" });
  const dataset = h("textarea", { id: "eval-dataset",
    placeholder: '{"question": "How long do seals last?", "expected": "4,000 hours"}' });
  const skill = h("input", { type: "text", id: "eval-skill", value: "answer_with_citations" });
  const a = h("input", { type: "text", id: "eval-a", placeholder: "latest (or a version label)" });
  const b = h("input", { type: "text", id: "eval-b", placeholder: "a version to compare (optional)" });
  const scorers = h("input", { type: "text", id: "eval-scorers", value: DEFAULT_SCORERS.join(", ") });
  const form = h("form", { id: "new-eval", onsubmit: async (e) => {
    e.preventDefault();
    const body = {
      name: name.value.trim() || "eval",
      jsonl: dataset.value,
      scorers: scorers.value.split(",").map((s) => s.trim()).filter(Boolean),
    };
    if (skill.value.trim()) body.skill = skill.value.trim();
    if (b.value.trim()) {
      body.compare = [{ version: a.value.trim() || "latest" }, { version: b.value.trim() }];
    } else if (a.value.trim()) {
      body.version = a.value.trim();
    }
    try {
      const created = await api("POST", "/v1/evals", body);
      location.hash = `#/evals/${encodeURIComponent(created.eval_id)}`;
    } catch (err) {
      toast(err.message);
    }
  } },
  h("label", { for: "eval-name" }, "Name"), name,
  h("label", { for: "eval-dataset" }, "Dataset (JSON Lines: one row a line, `question` required)"),
  dataset,
  h("label", { for: "eval-skill" }, "Skill"), skill,
  h("label", { for: "eval-a" }, "Version A"), a,
  h("label", { for: "eval-b" }, "Version B (an A/B when given)"), b,
  h("label", { for: "eval-scorers" }, `Scorers (${[...QUALITY, ...METRICS].join(", ")})`), scorers,
  h("button", { id: "start-eval" }, "Start eval"));
  return h("details", { class: "card" }, h("summary", {}, "New eval"), form);
}

export async function evalsPage() {
  const body = h("tbody");
  async function refresh() {
    const page = await api("GET", "/v1/evals?page_size=100");
    body.replaceChildren(...page.evals.map((ev) => h("tr", { "data-eval": ev.eval_id },
      h("td", {}, h("a", { href: `#/evals/${encodeURIComponent(ev.eval_id)}` }, ev.name)),
      h("td", {}, statusBadge(ev.status)),
      h("td", {}, ev.variants.join(" vs ")),
      h("td", {}, `${ev.done} of ${ev.rows * ev.variants.length}`
        + (ev.errored ? ` (${ev.errored} errored)` : "")),
      h("td", {}, ev.user_id), h("td", {}, when(ev.created_at)))));
  }
  await refresh();
  const timer = setInterval(() => refresh().catch((err) => toast(err.message)), 5000);
  onLeave(() => clearInterval(timer));
  return [h("h1", {}, "Evals"), newEvalForm(),
    h("table", { id: "evals" }, h("thead", {}, h("tr", {},
      ["Eval", "Status", "Variants", "Rows done", "User", "Started"].map((t) => h("th", {}, t)))),
    body)];
}

// --- one eval -----------------------------------------------------------------------------------

function summaryTable(ev, scorers) {
  return h("table", { id: "eval-summary" },
    h("thead", {}, h("tr", {}, h("th", {}, "Scorer"),
      ev.variants.map((v) => h("th", {}, v)))),
    h("tbody", {}, scorers.map((s) => h("tr", { "data-scorer": s }, h("td", {}, s),
      ev.variants.map((v) => h("td", { "data-variant": v }, interval(ev.summary[v]?.[s], s)))))));
}

function comparisonTable(ev) {
  const [a, b] = ev.variants;
  const verdict = { a: `${a} better`, b: `${b} better`, same: "no difference" };
  return h("table", { id: "eval-comparison" },
    h("thead", {}, h("tr", {}, ["Scorer", "pairs", `mean ${a}`, `mean ${b}`, "B − A [95% CI]",
      "t test p", "Wilcoxon p", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, ev.comparison.map((c) => h("tr", { "data-scorer": c.scorer },
      h("td", {}, c.scorer), h("td", {}, c.n),
      h("td", {}, number(c.mean_a, c.scorer)), h("td", {}, number(c.mean_b, c.scorer)),
      h("td", {}, number(c.diff, c.scorer), c.ci_low !== null && c.ci_low !== undefined
        ? h("span", { class: "muted" }, ` [${number(c.ci_low, c.scorer)}, ${number(c.ci_high, c.scorer)}]`)
        : null),
      h("td", {}, pValue(c.t_p)), h("td", {}, pValue(c.wilcoxon_p)),
      h("td", { class: "verdict", "data-better": c.better || "" },
        c.better ? verdict[c.better] : "too few pairs")))));
}

// The start of an answer, past the notes in italics AIOS puts before it ("_The knowledge base…_").
function opening(answer) {
  const lines = answer.split("\n").filter((l) => l.trim() && !l.trim().startsWith("_"));
  const first = lines[0] || answer;
  return first.length > 80 ? `${first.slice(0, 79)}…` : first;
}

function rowsTable(ev, scorers) {
  const differing = new Set(ev.differing_rows || []);
  return h("table", { id: "eval-rows" },
    h("thead", {}, h("tr", {}, ["Row", "Variant", "Status", "Question", ...scorers, "Answer or error"]
      .map((t) => h("th", {}, t)))),
    h("tbody", {}, ev.results.map((r) => h("tr", {
      "data-row": r.row, "data-variant": r.variant, "data-status": r.status,
      class: differing.has(r.row) ? "differs" : null,
    },
    h("td", {}, r.row), h("td", {}, r.variant), h("td", {}, statusBadge(r.status)),
    h("td", {}, r.question),
    scorers.map((s) => h("td", { "data-score": s }, number(r.scores[s], s))),
    h("td", {}, r.error ? h("span", { class: "status-failed" }, r.error) : null,
      r.answer ? h("details", {}, h("summary", {}, opening(r.answer)),
        h("div", { class: "stream" }, r.answer)) : null,
      r.run_id ? h("div", {}, h("a", { href: `#/runs/${encodeURIComponent(r.run_id)}` }, "run"))
        : null)))));
}

export async function evalPage(evalId) {
  const container = h("div");
  let timer = null;
  async function render() {
    const ev = await api("GET", `/v1/evals/${encodeURIComponent(evalId)}`);
    const scorers = shownScorers(ev);
    const differing = ev.differing_rows || [];
    container.replaceChildren(...nodes(
      h("h1", {}, "Eval ", h("code", {}, ev.name)),
      h("p", {}, statusBadge(ev.status), " ", h("span", { class: "muted", id: "eval-progress" },
        `${ev.done} of ${ev.rows * ev.variants.length} rows done`
        + `${ev.errored ? `, ${ev.errored} errored` : ""} · started ${when(ev.created_at)} by ${ev.user_id}`
        + ` · grounding ${ev.judge_model ? `judged by ${ev.judge_model}` : "by word overlap"}`)),
      h("p", {}, h("button", { type: "button", id: "export-csv", onclick: () => download(ev.eval_id, "csv") },
        "Export CSV"), " ",
      h("button", { type: "button", class: "secondary", id: "export-jsonl",
        onclick: () => download(ev.eval_id, "jsonl") }, "Export JSON Lines")),
      h("h2", {}, "Summary"),
      h("p", { class: "muted" }, "Per scorer and variant: the mean over the rows it scored, "
        + "its 95% confidence interval and the number of rows."),
      summaryTable(ev, scorers),
      ev.variants.length === 2 ? [h("h2", {}, "A/B"),
        h("p", { class: "muted" }, `B (${ev.variants[1]}) against A (${ev.variants[0]}) on the rows `
          + "both scored: a paired t test and a Wilcoxon signed-rank test; lower latency, tokens and "
          + "cost are better."),
        comparisonTable(ev),
        h("p", { id: "differing" }, differing.length
          ? `Rows where a quality score differs (highlighted below): ${differing.join(", ")}`
          : "No row's quality scores differ.")] : [],
      h("h2", {}, "Rows"), rowsTable(ev, scorers)));
    if (ev.status !== "running" && timer) {
      clearInterval(timer);
      timer = null;
    }
    return ev;
  }
  const ev = await render();
  if (ev.status === "running") {
    timer = setInterval(() => render().catch((err) => toast(err.message)), 2000);
    onLeave(() => timer && clearInterval(timer));
  }
  return [container];
}
