// The approvals inbox: what waits for my decision (GET /v1/approvals), oldest first, each with
// the approval card of lib.js to answer in place. The API lists only what the caller may answer
// (the approver role; never their own run's, unless the key is `aios dev`'s; the approvers an
// approval or its policy names, groups included); an answer refused anyway (403, 409) is shown
// as a toast by the card. The list is read again after each answer and on "Refresh" (not on a
// timer: a reader may be typing a comment).

import { api, h, when, approvalCard } from "../lib.js";

export async function inboxPage() {
  const list = h("div", { id: "inbox" });
  const more = h("p", { class: "muted" });

  async function load() {
    const inbox = await api("GET", "/v1/approvals?limit=50");
    more.textContent = inbox.more ? "More approvals wait than this page shows: answer these first." : "";
    if (!inbox.approvals.length) {
      list.replaceChildren(h("p", { class: "muted", id: "inbox-empty" }, "Nothing waits for you."));
      return;
    }
    list.replaceChildren(...inbox.approvals.map((item) => h("section",
      { class: "inbox-item", "data-run": item.run_id },
      h("p", {}, h("a", { href: `#/runs/${encodeURIComponent(item.run_id)}` }, item.goal), " ",
        h("span", { class: "muted" },
          `asked by ${item.requester} · waiting since ${when(item.requested_at)}`)),
      approvalCard(item.run_id, item, () => load()))));
  }

  await load();
  return [h("h1", {}, "Approvals waiting for you"),
    h("p", {}, h("button", { id: "inbox-refresh", onclick: () => load() }, "Refresh")),
    more, list];
}
