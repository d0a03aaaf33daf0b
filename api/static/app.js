// The AIOS console: a client of the public REST API (nothing here the API does not offer to
// every client). Hash routes: #/runs, #/runs/<id>, #/reports, #/reports/<id>, #/chat,
// #/documents, #/schedules.
// Every text from the server goes in through textContent (the h() helper), never as HTML, with one
// exception: answers and reports, which the server renders from Markdown and sanitizes (nh3: no
// scripts, event handlers, styles or javascript: links) and which go in through rendered(); the
// page's Content-Security-Policy would still stop a script that slipped through.

import {
  KEY, ENDED, ApiError, h, nodes, toast, api, readEvents, statusBadge, when, onLeave, leavePage,
  signOut, aboutSection, approvalCard, rendered,
} from "./lib.js";
import { evalPage, evalsPage } from "./pages/evals.js";
import { inboxPage } from "./pages/inbox.js";
import { budgetsPage } from "./pages/budgets.js";
import { researchPanel } from "./pages/research.js";

const view = document.getElementById("view");

// --- sign in ----------------------------------------------------------------------------------

function signInPage() {
  const input = h("input", { type: "password", id: "api-key", autocomplete: "off",
    placeholder: "aios_live_… or the key `aios dev` printed" });
  const form = h("form", { id: "sign-in", onsubmit: async (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    try {
      await api("GET", "/v1/runs?page_size=1");
      location.hash = "#/runs";
      route();
    } catch (err) {
      sessionStorage.removeItem(KEY);
      toast(err.message);
    }
  } }, h("label", { for: "api-key" }, "API key"), input, h("button", {}, "Sign in"));
  return [h("h1", {}, "Sign in"), h("p", { class: "muted" },
    "The key stays in this tab (session storage) and is sent only to this API."), form];
}

// --- runs -------------------------------------------------------------------------------------

async function runsPage() {
  const goal = h("textarea", { id: "goal", placeholder: "What should the run achieve?" });
  const skills = (await api("GET", "/v1/skills")).skills || [];
  const skill = h("select", { id: "skill" }, h("option", { value: "" }, "planner's choice"),
    skills.map((s) => h("option", { value: s.name }, `${s.name}: ${s.description || ""}`)));
  const plan = h("textarea", { id: "plan", placeholder: '{"steps": [...]}  (optional)' });
  // A field per input the chosen skill declares (its JSON schema's properties).
  const inputs = h("div", { id: "skill-inputs" });
  skill.addEventListener("change", () => {
    const chosen = skills.find((s) => s.name === skill.value);
    const props = chosen?.input_schema?.properties || {};
    const required = new Set(chosen?.input_schema?.required || []);
    inputs.replaceChildren(...Object.entries(props).map(([name, schema]) => h("label", {},
      `${name}${required.has(name) ? " (required)" : ""}`,
      h("input", { type: "text", name, "data-input": name, placeholder: schema.description || "" }))));
  });
  const form = h("form", { id: "new-run", onsubmit: async (e) => {
    e.preventDefault();
    try {
      let created;
      if (skill.value) {
        const given = {};
        for (const field of inputs.querySelectorAll("input[data-input]")) {
          if (field.value.trim()) given[field.dataset.input] = field.value;
        }
        const body = { inputs: given };
        if (goal.value.trim()) body.goal = goal.value;
        created = await api("POST", `/v1/skills/${skill.value}/runs`, body);
      } else {
        const body = { goal: goal.value };
        if (plan.value.trim()) body.plan = JSON.parse(plan.value);
        created = await api("POST", "/v1/runs", body);
      }
      location.hash = `#/runs/${created.run_id}`;
    } catch (err) {
      toast(err instanceof SyntaxError ? `the plan is not JSON: ${err.message}` : err.message);
    }
  } },
  h("label", { for: "goal" }, "Goal"), goal,
  recorder("goal-mic", async (audio) => {
    // A spoken goal starts the run at once: its transcript is the goal.
    const body = new FormData();
    body.append("audio", audio, "goal.webm");
    try {
      const created = await api("POST", "/v1/runs", body);
      toast(`heard: ${created.transcript.text}`);
      location.hash = `#/runs/${created.run_id}`;
    } catch (err) { toast(err.message); }
  }, "Say the goal"),
  h("label", { for: "skill" }, "Skill"), skill, inputs,
  h("details", {}, h("summary", {}, "A plan of your own (JSON)"), plan),
  h("button", { id: "start-run" }, "Start run"));

  const body = h("tbody");
  const table = h("table", { id: "runs" }, h("thead", {}, h("tr", {},
    h("th", {}, "Run"), h("th", {}, "Status"), h("th", {}, "Started"), h("th", {}, "Goal"))), body);
  async function refresh() {
    const page = await api("GET", "/v1/runs?page_size=50");
    body.replaceChildren(...page.runs.map((r) => h("tr", { "data-run": r.run_id },
      h("td", {}, h("a", { href: `#/runs/${r.run_id}` }, r.run_id)),
      h("td", {}, statusBadge(r.status)), h("td", {}, when(r.created_at)),
      h("td", {}, r.goal.length > 120 ? `${r.goal.slice(0, 119)}…` : r.goal))));
  }
  await refresh();
  const timer = setInterval(() => refresh().catch((err) => toast(err.message)), 3000);
  onLeave(() => clearInterval(timer));
  return [h("h1", {}, "Runs"), h("div", { class: "card" }, h("h2", {}, "New run"), form),
    table];
}

// The answer as the server renders it; its Markdown as plain text until then (or if it cannot).
function renderedAnswer(runId, markdown) {
  const el = h("div", { class: "rendered", id: "answer-body" }, h("div", { class: "stream" }, markdown));
  api("GET", `/v1/runs/${runId}/answer.html`, undefined, { raw: true })
    .then(async (response) => { if (response.ok) el.innerHTML = await response.text(); })
    .catch(() => {});
  return el;
}

// A chat reply as the server renders it; as plain text until then (or if it cannot).
function renderedReply(markdown) {
  const el = h("div", { class: "rendered" }, markdown);
  api("POST", "/v1/render/markdown", { markdown })
    .then((out) => { el.innerHTML = out.html; })
    .catch(() => {});
  return el;
}

function answerSection(result, runId) {
  if (!result) return null;
  const citations = result.citations || [];
  return h("div", { class: "card", id: "answer" }, h("h2", {}, "Answer"),
    result.grounded === false ? h("p", { class: "muted" },
      "Not grounded: the knowledge base had nothing on this.") : null,
    renderedAnswer(runId, result.answer),
    citations.length ? h("h3", {}, "Sources") : null,
    h("ol", {}, citations.map((c) => h("li", { value: c.n || undefined },
      h("strong", {}, c.title || c.source), " ", h("span", { class: "muted" }, c.source),
      c.snippet ? h("blockquote", {}, c.snippet) : null))));
}

async function runPage(runId) {
  const container = h("div");
  const stream = h("div", { class: "stream", id: "tokens", hidden: true });
  let temporalUi = null;
  let research = null; // a research step's progress, from the run's events
  async function render() {
    const response = await api("GET", `/v1/runs/${runId}`, undefined, { raw: true });
    if (!response.ok) throw new ApiError(response.status, await response.json());
    const link = response.headers.get("Link") || "";
    const match = link.match(/<([^>]+)>;\s*rel="temporal-ui"/);
    if (match) temporalUi = match[1];
    const run = await response.json();
    if (!research && run.plan.some((s) => s.kind === "research")) research = researchPanel(runId);
    const steps = h("table", { id: "steps" }, h("thead", {}, h("tr", {},
      ["Step", "Kind", "Status", "Attempts", "Depends on", "Tokens", "Error"].map((t) =>
        h("th", {}, t)))),
    h("tbody", {}, run.plan.map((s) => h("tr", { "data-step": s.id },
      h("td", {}, s.title || s.id), h("td", {}, s.kind), h("td", {}, statusBadge(s.status)),
      h("td", {}, s.attempts), h("td", {}, s.depends_on.join(", ")),
      h("td", {}, s.usage.input_tokens + s.usage.output_tokens), h("td", {}, s.error || "")))));
    const usage = run.usage || {};
    container.replaceChildren(...nodes(
      h("h1", {}, "Run ", h("code", {}, run.run_id)),
      h("p", {}, statusBadge(run.status), " ", h("span", { class: "muted" },
        `started ${when(run.created_at)} by ${run.user_id}`),
      temporalUi ? [" · ", h("a", { href: temporalUi, target: "_blank", rel: "noopener" },
        "open in the Temporal UI")] : null),
      h("p", {}, run.goal),
      run.pending_approvals.map((p) => approvalCard(runId, p, () => render())),
      h("h2", {}, "Plan"), steps,
      h("p", { id: "usage" }, `Tokens: ${usage.input_tokens || 0} in, ${usage.output_tokens || 0}`
        + ` out · cost $${(usage.cost_usd || 0).toFixed(4)}`),
      stream,
      research,
      run.error ? h("p", { class: "status-failed" }, run.error) : null,
      answerSection(run.result, runId)));
    return run;
  }
  const run = await render();
  if (!ENDED.has(run.status)) follow(runId, render, stream, run.last_event_seq);
  return [container];
}

function follow(runId, render, stream, after) {
  const controller = new AbortController();
  onLeave(() => controller.abort());
  let rendering = Promise.resolve();
  const rerender = () => (rendering = rendering.then(render).catch((err) => toast(err.message)));
  (async () => {
    try {
      const response = await api("GET", `/v1/runs/${runId}/events?after=${after}`, undefined,
        { raw: true, signal: controller.signal });
      await readEvents(response, (type, data) => {
        if (type === "llm.delta") {
          stream.hidden = false;
          stream.textContent += data.data?.text ?? data.text ?? "";
        } else if (type !== "error") {
          rerender();
        }
      });
      rerender();
    } catch (err) {
      if (err.name !== "AbortError") setTimeout(rerender, 2000);
    }
  })();
}

// --- voice ------------------------------------------------------------------------------------

// Speech for a transcriber: without the browser's echo cancelling, noise suppression and gain
// control, which are made for a listener and cost a speech engine words (PocketSphinx heard
// "what is the least on the" for "what is the population of canada" with them on).
const SPEECH_AUDIO = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };

// A button that records from the microphone (MediaRecorder: WebM/Opus in Chromium and Firefox)
// while pressed once, and hands the recording over when pressed again.
function recorder(id, onRecorded, label = "Speak") {
  const button = h("button", { type: "button", id, class: "secondary mic" }, label);
  if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === "undefined") {
    button.disabled = true;
    button.title = "this browser cannot record here (a microphone needs https or localhost)";
    return button;
  }
  let recording = null;
  button.addEventListener("click", async () => {
    if (recording) {
      recording.stop();
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: SPEECH_AUDIO });
      const chunks = [];
      recording = new MediaRecorder(stream);
      // A piece every half second, so the button can show how long the recording is.
      recording.addEventListener("dataavailable", (e) => {
        chunks.push(e.data);
        if (recording) button.textContent = `Stop and send (${Math.floor(chunks.length / 2)} s)`;
      });
      recording.addEventListener("stop", () => {
        stream.getTracks().forEach((t) => t.stop());
        recording = null;
        button.textContent = label;
        button.classList.remove("recording");
        onRecorded(new Blob(chunks, { type: chunks[0]?.type || "audio/webm" }));
      });
      recording.start(500);
      button.textContent = "Stop and send (0 s)";
      button.classList.add("recording");
    } catch (err) {
      toast(`the microphone is not available: ${err.message}`);
    }
  });
  return button;
}

// --- chat -------------------------------------------------------------------------------------

function chatPage() {
  let sessionId = sessionStorage.getItem("aios.chat") || null;
  const log = h("div", { class: "chat-log", id: "chat-log" });
  const input = h("input", { type: "text", id: "chat-input", placeholder: "Ask something" });
  // A typed message is sent as JSON; a spoken one as the recording (the reply says what was heard).
  async function send(body, said) {
    const reply = h("div", { class: "msg-assistant" });
    log.append(reply);
    try {
      const response = await api("POST", "/v1/chat", body,
        { raw: true, headers: { Accept: "text/event-stream" } });
      if (!response.ok) throw new ApiError(response.status, await response.json());
      await readEvents(response, (type, data) => {
        if (type === "delta") reply.textContent += data.text;
        else if (type === "error") toast(data.detail);
        else if (type === "reply") {
          if (data.transcript) said.textContent = data.transcript.text;
          sessionId = data.session_id;
          sessionStorage.setItem("aios.chat", sessionId);
          const used = (data.tools_used || []).map((u) =>
            h("div", { class: "tool-use" }, `used ${u.tool} ${JSON.stringify(u.args)}: ${u.status}`));
          reply.replaceChildren(...used, ...nodes(renderedReply(data.reply), (data.citations || []).length
            ? h("ol", {}, data.citations.map((c) => h("li", {}, c.title || c.source)))
            : null));
        }
      });
    } catch (err) {
      reply.remove();
      if (said.classList.contains("spoken")) said.remove();
      toast(err.message);
    }
  }
  const form = h("form", { id: "chat", onsubmit: (e) => {
    e.preventDefault();
    const message = input.value.trim();
    if (!message) return;
    input.value = "";
    const said = h("div", { class: "msg-user" }, message);
    log.append(said);
    send({ message, session_id: sessionId }, said);
  } }, input, h("button", {}, "Send"), recorder("chat-mic", (audio) => {
    const said = h("div", { class: "msg-user spoken" }, "(listening to your recording…)");
    log.append(said);
    const body = new FormData();
    body.append("audio", audio, "speech.webm");
    if (sessionId) body.append("session_id", sessionId);
    send(body, said);
  }));
  const restart = h("button", { class: "secondary", onclick: () => {
    sessionStorage.removeItem("aios.chat");
    sessionId = null;
    log.replaceChildren();
  } }, "New conversation");
  return [h("h1", {}, "Chat"), log, form, restart];
}

// --- documents --------------------------------------------------------------------------------

async function documentsPage() {
  const files = h("input", { type: "file", id: "files", multiple: true });
  const bar = h("progress", { id: "upload-progress", max: 100, value: 0, hidden: true });
  const note = h("p", { class: "muted", id: "upload-note" });
  const body = h("tbody");
  async function refresh() {
    const page = await api("GET", "/v1/documents?page_size=100");
    body.replaceChildren(...page.documents.map((d) => h("tr", {},
      h("td", {}, d.title || d.source), h("td", {}, d.source), h("td", {}, d.chunks))));
  }
  const form = h("form", { id: "upload", onsubmit: (e) => {
    e.preventDefault();
    if (!files.files.length) return toast("choose files first");
    const data = new FormData();
    for (const f of files.files) data.append("files", f, f.name);
    // XMLHttpRequest: fetch cannot report upload progress.
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/documents");
    xhr.setRequestHeader("Authorization", `Bearer ${sessionStorage.getItem(KEY)}`);
    bar.hidden = false;
    xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = (50 * ev.loaded) / ev.total; };
    xhr.onload = async () => {
      const answer = JSON.parse(xhr.responseText || "{}");
      if (xhr.status >= 400) return toast(answer.detail || `HTTP ${xhr.status}`);
      for (;;) {
        const job = await api("GET", `/v1/documents/jobs/${answer.job_id}`);
        bar.value = 50 + (job.total ? (50 * (job.done + job.failed + job.unchanged)) / job.total : 0);
        note.textContent = `${job.status}: ${job.done} indexed, ${job.unchanged} unchanged, `
          + `${job.failed} failed of ${job.total}`;
        if (job.status === "completed" || job.status === "failed") break;
        await new Promise((r) => setTimeout(r, 700));
      }
      await refresh();
    };
    xhr.send(data);
  } }, files, h("button", {}, "Upload"), bar, note);
  await refresh();
  return [h("h1", {}, "Documents"), form, h("table", { id: "documents" }, h("thead", {},
    h("tr", {}, h("th", {}, "Title"), h("th", {}, "Source"), h("th", {}, "Chunks"))), body)];
}

// --- schedules --------------------------------------------------------------------------------

async function schedulesPage() {
  const goal = h("input", { type: "text", id: "schedule-goal", placeholder: "Goal of each run" });
  const cron = h("input", { type: "text", id: "schedule-cron", placeholder: "0 7 * * 1-5" });
  const zone = h("input", { type: "text", id: "schedule-tz", value: "UTC" });
  const body = h("tbody");
  async function act(id, action) {
    try {
      if (action === "delete") await api("DELETE", `/v1/schedules/${id}`);
      else await api("POST", `/v1/schedules/${id}/${action}`);
      await refresh();
    } catch (err) { toast(err.message); }
  }
  async function refresh() {
    const list = (await api("GET", "/v1/schedules")).schedules;
    body.replaceChildren(...list.map((s) => h("tr", { "data-schedule": s.schedule_id },
      h("td", {}, s.goal), h("td", {}, s.cron || `every ${s.interval_s}s`), h("td", {}, s.timezone),
      h("td", {}, s.paused ? "paused" : when(s.next_runs[0])),
      h("td", {}, (s.recent_runs || []).map((r) => h("a", { href: `#/runs/${r}` }, r, " "))),
      h("td", {}, h("button", { class: "secondary", onclick: () => act(s.schedule_id,
        s.paused ? "resume" : "pause") }, s.paused ? "Resume" : "Pause"), " ",
      h("button", { class: "secondary", onclick: () => act(s.schedule_id, "trigger") }, "Run now"),
      " ", h("button", { class: "danger", onclick: () => act(s.schedule_id, "delete") }, "Delete")))));
  }
  const form = h("form", { id: "new-schedule", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/v1/schedules", { goal: goal.value, cron: cron.value, timezone: zone.value });
      await refresh();
    } catch (err) { toast(err.message); }
  } }, goal, cron, zone, h("button", {}, "Create schedule"));
  await refresh();
  return [h("h1", {}, "Schedules"), form, h("table", { id: "schedules" }, h("thead", {}, h("tr", {},
    ["Goal", "When", "Time zone", "Next", "Recent runs", ""].map((t) => h("th", {}, t)))), body)];
}

// --- reports ----------------------------------------------------------------------------------

async function reportsPage() {
  const page = await api("GET", "/v1/reports?page_size=100");
  const rows = page.reports.map((r) => h("tr", { "data-report": r.report_id },
    h("td", {}, h("a", { href: `#/reports/${r.report_id}` }, r.title)),
    h("td", {}, r.published_at ? statusBadge("published") : h("span", { class: "muted" }, "draft")),
    h("td", {}, r.user_id), h("td", {}, when(r.created_at)),
    h("td", {}, h("a", { href: `#/runs/${r.run_id}` }, r.run_id))));
  return [h("h1", {}, "Reports"),
    rows.length ? h("table", { id: "reports" }, h("thead", {}, h("tr", {},
      ["Title", "State", "User", "Created", "Run"].map((t) => h("th", {}, t)))), h("tbody", {}, rows))
      : h("p", { class: "muted", id: "reports" }, "No reports yet: a research report run writes one.")];
}

async function download(reportId, format) {
  try {
    const response = await api("GET", `/v1/reports/${reportId}.${format}`, undefined, { raw: true });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
    const url = URL.createObjectURL(await response.blob());
    h("a", { href: url, download: `${reportId}.${format}` }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    toast(err.message);
  }
}

async function reportPage(reportId) {
  const r = await api("GET", `/v1/reports/${encodeURIComponent(reportId)}`);
  return [h("h1", {}, r.title),
    h("p", { class: "muted" }, `${r.published_at ? `published ${when(r.published_at)}` : "draft"}`
      + ` · ${r.user_id} · ${when(r.created_at)} · `, h("a", { href: `#/runs/${r.run_id}` }, r.run_id)),
    h("p", {}, h("button", { type: "button", onclick: () => download(r.report_id, "md") }, "Download Markdown"),
      " ", h("button", { type: "button", onclick: () => download(r.report_id, "html") }, "Download HTML"),
      " ", h("button", { type: "button", onclick: () => download(r.report_id, "pdf") }, "Download PDF")),
    h("div", { class: "card", id: "report" }, rendered(r.html, { id: "report-body" })),
    r.citations.length ? h("h2", {}, "Sources") : null,
    h("ol", {}, r.citations.map((c) => h("li", { value: c.n || undefined },
      h("strong", {}, c.title || c.source), " ", h("span", { class: "muted" }, c.source))))];
}

// --- routing ----------------------------------------------------------------------------------

// Each navigation gets a number; a page that finishes loading after a newer navigation began (a
// slow page, then a click elsewhere, or the sign-in's two routes) is dropped, not shown over it.
let navigation = 0;

async function route() {
  const current = ++navigation;
  leavePage();
  const signedIn = Boolean(sessionStorage.getItem(KEY));
  document.getElementById("nav").hidden = !signedIn;
  const path = location.hash.replace(/^#/, "") || "/runs";
  try {
    let content;
    if (!signedIn) content = signInPage();
    else if (path.startsWith("/runs/")) content = await runPage(decodeURIComponent(path.slice(6)));
    else if (path.startsWith("/reports/")) content = await reportPage(decodeURIComponent(path.slice(9)));
    else if (path === "/reports") content = await reportsPage();
    else if (path.startsWith("/evals/")) content = await evalPage(decodeURIComponent(path.slice(7)));
    else if (path === "/evals") content = await evalsPage();
    else if (path === "/chat") content = chatPage();
    else if (path === "/documents") content = await documentsPage();
    else if (path === "/schedules") content = await schedulesPage();
    else if (path === "/budgets") content = await budgetsPage();
    else if (path === "/inbox") content = await inboxPage();
    else content = await runsPage();
    if (current !== navigation) return;
    view.replaceChildren(...nodes(content));
  } catch (err) {
    if (current !== navigation) return;
    view.replaceChildren(h("h1", {}, "Something went wrong"), h("p", {}, err.message));
  }
}

document.getElementById("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", route);
route();
