// A research step's progress on the run page: its sub-questions by round, the pages it read (URL,
// title) or skipped (and why), and its notes files (GET /v1/runs/{id}/files/...), from the run's
// `research.progress` events (workflows/run/research_step.py), live while the run goes on. Every
// text here comes from the model or from outside pages: it goes in through h() (textContent),
// and only http(s) URLs become links.

import { ApiError, api, h, nodes, onLeave, readEvents, toast } from "../lib.js";

const WEB = /^https?:\/\//i;

function emptyStep() {
  return { rounds: new Map(), read: [], skipped: [], notes: [], web: null, done: null };
}

function round(step, n) {
  if (!step.rounds.has(n)) step.rounds.set(n, []);
  return step.rounds.get(n);
}

// One research.progress event into the step's progress.
function take(progress, event) {
  const data = event.data || {};
  if (!progress.has(event.step_id)) progress.set(event.step_id, emptyStep());
  const step = progress.get(event.step_id);
  switch (data.phase) {
    case "questions": round(step, data.round).push(...(data.questions || [])); break;
    case "read": step.read.push({ url: data.url, title: data.title, round: data.round }); break;
    case "skipped": step.skipped.push({ url: data.url, reason: data.reason }); break;
    case "notes":
      if (data.notes_file) step.notes.push({ file: data.notes_file, sources: data.sources || [] });
      break;
    case "web_unavailable": step.web = data.reason; break;
    case "done": step.done = data; break;
    default: break;
  }
}

function pageLink(url, text) {
  return WEB.test(String(url)) ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" },
    text || url) : h("span", {}, text || url);
}

// A run file fetched with the key (a plain link would go without it) and handed to the browser.
async function openFile(runId, path) {
  try {
    const response = await api("GET", fileHref(runId, path), undefined, { raw: true });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
    const url = URL.createObjectURL(await response.blob());
    h("a", { href: url, download: path.split("/").pop() }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    toast(err.message);
  }
}

function fileHref(runId, path) {
  return `/v1/runs/${encodeURIComponent(runId)}/files/${path.split("/").map(encodeURIComponent).join("/")}`;
}

function stepSection(runId, stepId, step) {
  const state = step.done
    ? `done after ${step.done.round} round(s): ${step.done.stopped}, ${step.done.sources} sources`
    : "researching…";
  return h("div", { "data-research": stepId },
    h("h3", {}, `Step ${stepId}`, " ", h("span", { class: "muted research-state" }, state)),
    step.web ? h("p", { class: "muted" }, `Web not searched: ${step.web}`) : null,
    h("h4", {}, "Questions"),
    h("ol", { class: "research-questions" }, [...step.rounds.entries()].flatMap(([n, questions]) =>
      questions.map((q) => h("li", {}, q, " ", h("span", { class: "muted" }, `(round ${n})`))))),
    h("h4", {}, `Sources read (${step.read.length})`),
    h("ul", { class: "research-read" }, step.read.map((p) => h("li", {},
      pageLink(p.url, p.title), " ", h("span", { class: "muted" }, p.url)))),
    step.skipped.length ? [h("h4", {}, `Skipped (${step.skipped.length})`),
      h("ul", { class: "research-skipped" }, step.skipped.map((p) => h("li", {},
        h("span", {}, p.url), " — ", h("span", { class: "muted" }, p.reason))))] : null,
    h("h4", {}, "Notes"),
    h("ul", { class: "research-notes" }, step.notes.map((n) => h("li", {},
      h("a", { href: fileHref(runId, n.file), "data-file": n.file,
        onclick: (e) => { e.preventDefault(); openFile(runId, n.file); } }, n.file),
      " ", h("span", { class: "muted" }, `${n.sources.length} new source(s)`)))));
}

// The panel, filled from the run's events (all of them: `after=0`) until run.finished; hidden
// until a research step says something.
export function researchPanel(runId) {
  const panel = h("div", { class: "card", id: "research", hidden: true });
  const progress = new Map();
  const render = () => {
    panel.hidden = progress.size === 0;
    panel.replaceChildren(...nodes(h("h2", {}, "Research"),
      [...progress.entries()].map(([id, step]) => stepSection(runId, id, step))));
  };
  const controller = new AbortController();
  onLeave(() => controller.abort());
  (async () => {
    try {
      const response = await api("GET", `/v1/runs/${encodeURIComponent(runId)}/events?after=0`,
        undefined, { raw: true, signal: controller.signal });
      if (!response.ok) return;
      await readEvents(response, (type, event) => {
        if (type === "research.progress") {
          take(progress, event);
          render();
        }
      });
    } catch (err) {
      if (err.name !== "AbortError") toast(err.message);
    }
  })();
  return panel;
}
