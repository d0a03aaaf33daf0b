// Shared pieces of the console: the API client, the element helper, and widgets more than one
// page shows (approval cards, server-rendered HTML). A page lives in its own module under
// pages/ (or in app.js) and imports what it needs from here; app.js routes between them.

export const KEY = "aios.apiKey";
export const ENDED = new Set(["completed", "failed", "cancelled", "timed_out"]);
const leaving = []; // clean-ups of the current page (timers, streams)

// A page registers what must stop when the reader leaves it (a timer, a stream).
export function onLeave(clean) {
  leaving.push(clean);
}

export function leavePage() {
  for (const clean of leaving.splice(0)) clean();
}

// Forget the key and show the sign-in page (app.js routes on every hash change).
export function signOut() {
  sessionStorage.removeItem(KEY);
  document.getElementById("nav").hidden = true;
  if (location.hash) location.hash = "";
  else window.dispatchEvent(new HashChangeEvent("hashchange"));
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) el.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return el;
}

// replaceChildren() takes nodes and strings only: flatten lists, drop the absent.
export function nodes(...items) {
  return items.flat(3).filter((item) => item !== null && item !== undefined);
}

export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (el.hidden = true), 6000);
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
  }
}

export async function api(method, path, body, extra = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY)}`, ...extra.headers };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, signal: extra.signal });
  if (extra.raw) return response;
  if (response.status === 401) {
    signOut();
    throw new ApiError(401, { detail: "the key was refused; sign in again" });
  }
  const data = response.status === 204 ? null : await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data || {});
  return data;
}

// Server-sent events over fetch (EventSource cannot send an Authorization header).
export async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let type = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) type = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(type, JSON.parse(data));
    }
  }
}

export function statusBadge(status) {
  return h("span", { class: `status status-${status}`, "data-status": status }, status);
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

// What an approval is about: the outputs of the steps it depends on (the draft), as text nodes
// only (a model's output is untrusted content).
export function aboutSection(about) {
  return about.map((c) => h("div", { class: "approval-about", "data-about": c.step_id },
    h("div", {}, `Output of ${c.title || c.step_id} (${c.step_id})`,
      c.truncated ? h("span", { class: "muted" }, ` — first ${c.text.length} of ${c.chars} characters`) : null),
    h("pre", { class: "approval-output" }, c.text)));
}

export function approvalCard(runId, pending, onAnswered) {
  const args = h("pre", { class: "approval-args" }, JSON.stringify(pending.args, null, 2));
  const comment = h("input", { type: "text", placeholder: "comment (optional)" });
  // An answer review: the reviewer may correct the answer; approving sends the edit (recorded with
  // who made it), rejecting never does.
  const edit = pending.kind === "review" && typeof pending.args?.answer === "string"
    ? h("textarea", { class: "review-answer", "aria-label": "the answer under review" },
      pending.args.answer) : null;
  async function answer(decision) {
    const body = { decision, args_hash: pending.args_hash, comment: comment.value || null };
    if (edit && decision === "approve" && edit.value.trim() && edit.value !== pending.args.answer) {
      body.answer = edit.value;
    }
    try {
      await api("POST", `/v1/runs/${runId}/approvals/${pending.approval_id}`, body);
      onAnswered();
    } catch (err) {
      toast(err.message);
    }
  }
  return h("div", { class: "card approval", "data-approval": pending.approval_id },
    h("strong", {}, `Awaiting approval: step ${pending.step_id}`),
    h("p", {}, pending.reason, h("br"), h("span", { class: "muted" },
      `expires ${when(pending.expires_at)}`)),
    (pending.untrusted_sources || []).length
      ? h("p", { class: "muted" }, `Derived from untrusted content: ${pending.untrusted_sources.join(", ")}`)
      : null,
    (pending.approvers || []).length
      ? h("p", { class: "muted" }, `For: ${pending.approvers.join(", ")}`) : null,
    pending.policy ? h("p", { class: "muted", "data-policy": "" }, `Under ${pending.policy}`) : null,
    pending.self_approval
      ? h("p", { class: "muted", "data-self-approval": "" }, pending.self_approval_policy
        ? `Self-approval allowed by policy ${pending.self_approval_policy}: the run's requester may approve it too (no four eyes).`
        : "Its policy lets the run's requester approve it too (no four eyes).")
      : null,
    (pending.approvals_required || 1) > 1
      ? h("p", { class: "muted", "data-approved-by": "" },
        `Needs ${pending.approvals_required} distinct approvers; approved so far by: ${
          (pending.approved_by || []).join(", ") || "nobody"}`) : null,
    aboutSection(pending.about || []),
    edit ? [h("div", {}, "The answer (edit it to correct it; Approve returns your text):"), edit]
      : null,
    h("div", {}, "Arguments being approved:"), args, comment,
    h("p", {}, h("button", { class: "approve", onclick: () => answer("approve") }, "Approve"), " ",
      h("button", { class: "danger reject", onclick: () => answer("reject") }, "Reject")));
}

// A container for server-rendered, sanitized HTML (see the note at the top).
export function rendered(html, attrs = {}) {
  const el = h("div", { class: "rendered", ...attrs });
  el.innerHTML = html;
  return el;
}
