// Budgets: the tenant's spend caps (GET/POST/DELETE /v1/budgets) and what was spent this day and
// this month, by user and by model (GET /v1/usage, summed from the spend ledger). The API decides
// who sees what: a user or approver is shown the caps that apply to them and their own calls (the
// usage report then names them in `user_id`, and the page offers no form); operators and admins see
// the tenant's. Only an admin may set or delete a cap: anyone else's attempt is refused by the API
// (403), shown as a toast.

import { api, h, toast, when } from "../lib.js";

const usd = (value) => (value === null || value === undefined ? "—" : `$${Number(value).toFixed(4)}`);
const count = (value) => (value === null || value === undefined ? "—" : Number(value).toLocaleString("en"));

function startOf(period) {
  const now = new Date();
  const day = period === "day" ? now.getUTCDate() : 1;
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), day)).toISOString();
}

async function usage(groupBy, period) {
  const query = new URLSearchParams({ group_by: groupBy, from: startOf(period) });
  return api("GET", `/v1/usage?${query}`);
}

// What a cap's scope has used in its current period, where the usage report can say it.
function used(cap, spent) {
  const groups = spent[cap.period]?.[cap.scope];
  if (!groups) return null;
  return groups.find((g) => g.group === cap.subject) || { usd: 0, input_tokens: 0, output_tokens: 0 };
}

function capsTable(caps, spent, mayChange, reload) {
  if (!caps.length) return h("p", { class: "muted", id: "caps-empty" }, "No caps: nothing limits spend but each run's own budget.");
  return h("table", { id: "caps" },
    h("thead", {}, h("tr", {}, ["scope", "subject", "period", "USD cap", "token cap", "used", "set by", ""]
      .map((title) => h("th", {}, title)))),
    h("tbody", {}, caps.map((cap) => {
      const so = used(cap, spent);
      const usedText = so === null ? "—"
        : `${usd(so.usd)} · ${count(so.input_tokens + so.output_tokens)} tokens`;
      return h("tr", { "data-cap": cap.id },
        h("td", {}, cap.scope), h("td", {}, cap.subject), h("td", {}, cap.period),
        h("td", {}, usd(cap.usd)), h("td", {}, count(cap.tokens)), h("td", { class: "used" }, usedText),
        h("td", { class: "muted" }, `${cap.created_by} · ${when(cap.created_at)}`),
        h("td", {}, mayChange ? h("button", { class: "delete-cap", type: "button", onclick: async () => {
          try {
            await api("DELETE", `/v1/budgets/${encodeURIComponent(cap.id)}`);
            await reload();
          } catch (err) {
            toast(err.message);
          }
        } }, "Delete") : null));
    })));
}

function capForm(reload) {
  const scope = h("select", { id: "cap-scope" }, ["tenant", "user", "key", "schedule"]
    .map((s) => h("option", { value: s }, s)));
  const subject = h("input", { id: "cap-subject", type: "text", placeholder: "user, key or schedule id" });
  const period = h("select", { id: "cap-period" }, ["day", "month"].map((p) => h("option", { value: p }, p)));
  const dollars = h("input", { id: "cap-usd", type: "number", min: "0", step: "0.01", placeholder: "USD" });
  const tokens = h("input", { id: "cap-tokens", type: "number", min: "0", step: "1", placeholder: "tokens" });
  return h("form", { id: "new-cap", onsubmit: async (e) => {
    e.preventDefault();
    const body = { scope: scope.value, period: period.value };
    if (subject.value.trim()) body.subject = subject.value.trim();
    if (dollars.value !== "") body.usd = Number(dollars.value);
    if (tokens.value !== "") body.tokens = Number(tokens.value);
    try {
      await api("POST", "/v1/budgets", body);
      e.target.reset();
      await reload();
    } catch (err) {
      toast(err.message);
    }
  } },
  h("label", { for: "cap-scope" }, "Scope"), scope,
  h("label", { for: "cap-subject" }, "Subject (not for a tenant cap)"), subject,
  h("label", { for: "cap-period" }, "Period"), period,
  h("label", { for: "cap-usd" }, "USD"), dollars,
  h("label", { for: "cap-tokens" }, "Tokens"), tokens,
  h("button", {}, "Set cap"));
}

function usageTable(id, report) {
  if (!report.groups.length) return h("p", { class: "muted", id }, "No model calls.");
  return h("table", { id },
    h("thead", {}, h("tr", {}, [report.group_by, "calls", "tokens in", "tokens out", "USD", "in flight"]
      .map((title) => h("th", {}, title)))),
    h("tbody", {}, report.groups.map((g) => h("tr", { "data-group": g.group ?? "" },
      h("td", {}, g.group ?? "(none)"), h("td", {}, count(g.calls)), h("td", {}, count(g.input_tokens)),
      h("td", {}, count(g.output_tokens)), h("td", { class: "usd" }, usd(g.usd)),
      h("td", {}, usd(g.reserved_usd))))));
}

export async function budgetsPage() {
  const body = h("div", { id: "budgets" });

  async function load() {
    const [caps, dayUsers, monthUsers, dayModels, monthModels, dayTenant, monthTenant] =
      await Promise.all([
        api("GET", "/v1/budgets"),
        usage("user", "day"), usage("user", "month"),
        usage("model", "day"), usage("model", "month"),
        usage("tenant", "day"), usage("tenant", "month"),
      ]);
    // A caller who sees only their own calls is not an operator or admin: no cap form for them.
    const ownOnly = Boolean(monthUsers.user_id);
    const spent = {
      day: { user: dayUsers.groups, tenant: ownOnly ? null : dayTenant.groups },
      month: { user: monthUsers.groups, tenant: ownOnly ? null : monthTenant.groups },
    };
    body.replaceChildren(
      h("h2", {}, "Caps"),
      capsTable(caps.budgets, spent, !ownOnly, load),
      ownOnly ? h("p", { class: "muted" }, `The caps that apply to you, and your own spend (${monthUsers.user_id}).`)
        : h("details", { id: "cap-editor" }, h("summary", {}, "Set a cap (admins)"), capForm(load)),
      h("h2", {}, "Spent today"),
      h("div", { class: "usage-pair" }, usageTable("usage-day-user", dayUsers), usageTable("usage-day-model", dayModels)),
      h("h2", {}, "Spent this month"),
      h("p", { class: "muted" }, `Total ${usd(monthUsers.total_usd)} since ${when(monthUsers.start)}.`),
      h("div", { class: "usage-pair" }, usageTable("usage-month-user", monthUsers),
        usageTable("usage-month-model", monthModels)),
    );
  }

  await load();
  return [h("h1", {}, "Budgets"),
    h("p", {}, h("button", { id: "budgets-refresh", type: "button", onclick: () => load().catch((e) => toast(e.message)) }, "Refresh")),
    body];
}
