// The EventIngest dev console: plain modules, no build step. Everything it shows comes from the
// host's own HTTP API (/v1/..., /e/{key}), with the keys the user entered (sessionStorage only).

const $ = (selector, root = document) => root.querySelector(selector);
const POLL_MS = 1000;
const PAGE = 50;

// ---- keys, environment and the API -------------------------------------------------------------

const session = {
  get: (k) => sessionStorage.getItem("eventingest." + k) || "",
  set: (k, v) => (v ? sessionStorage.setItem("eventingest." + k, v) : sessionStorage.removeItem("eventingest." + k)),
};

class ApiError extends Error {
  constructor(status, detail, body) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** Calls the REST API with the signing key (if any) and the environment (if any). */
async function api(path, { method = "GET", body, env = currentEnv() } = {}) {
  const headers = {};
  const key = session.get("signingKey");
  if (key) headers.Authorization = "Bearer " + key;
  if (env) headers["x-inngest-env"] = env;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!response.ok) throw new ApiError(response.status, json?.detail || json?.error || text, json);
  return json;
}

function currentEnv() { return session.get("env"); }

function showError(error) {
  const banner = $("#error");
  if (!error) { banner.hidden = true; banner.textContent = ""; return; }
  const hint = error.status === 401 ? " — enter a signing key under Keys." : error.status === 403 ? " — this key may not do that." : "";
  banner.textContent = (error.status ? `${error.status}: ` : "") + error.message + hint;
  banner.hidden = false;
}

// ---- formatting --------------------------------------------------------------------------------

const pad = (n, w = 2) => String(n).padStart(w, "0");
function formatTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
function timeElement(ms) {
  const t = document.createElement("time");
  if (ms === null || ms === undefined) return t;
  t.dateTime = new Date(ms).toISOString();
  t.title = t.dateTime;
  t.textContent = formatTime(ms);
  return t;
}
function countdown(ms) {
  let s = Math.round((ms - Date.now()) / 1000);
  if (s <= 0) return "due now";
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return (d ? `${d}d ` : "") + (d || h ? `${h}h ` : "") + (d || h || m ? `${m}m ` : "") + `${s}s`;
}
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}
const outcomeOf = (e) => (e.due ? "scheduled" : "accepted");

/** JSON as a tree of <details>: every object and array can be folded. */
function jsonTree(value, label) {
  const root = el("ul", { class: "tree", role: "tree" });
  root.append(treeNode(value, label, true));
  return root;
}
function treeNode(value, key, open) {
  const keyPart = key === undefined ? [] : [el("span", { class: "k", text: JSON.stringify(key) }), ": "];
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const brackets = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
    if (entries.length === 0) return el("li", { role: "treeitem" }, ...keyPart, brackets.join(""));
    const children = el("ul", { role: "group" }, entries.map(([k, v]) => treeNode(v, Array.isArray(value) ? undefined : k, true)));
    const summary = el("summary", {}, ...keyPart, brackets[0], el("span", { class: "muted", text: ` ${entries.length} ${Array.isArray(value) ? "items" : "keys"}` }));
    return el("li", { role: "treeitem" }, el("details", { open }, summary, children, brackets[1]));
  }
  const kind = typeof value === "string" ? "s" : typeof value === "number" ? "n" : "b";
  return el("li", { role: "treeitem" }, ...keyPart, el("span", { class: kind, text: JSON.stringify(value) }));
}

/** Event names against a route pattern: '*' stands for any run of characters (as QueueRouter.Matches). */
function matches(pattern, name) {
  const star = pattern.indexOf("*");
  if (star < 0) return pattern === name;
  if (!name.startsWith(pattern.slice(0, star))) return false;
  const rest = pattern.slice(star + 1);
  const tail = name.slice(star);
  if (rest === "") return true;
  for (let i = 0; i <= tail.length; i++) if (matches(rest, tail.slice(i))) return true;
  return false;
}

// ---- confirmation ------------------------------------------------------------------------------

function confirmAction(title, text, okLabel) {
  const dialog = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

// ---- stream ------------------------------------------------------------------------------------

const stream = {
  events: new Map(), // internal_id -> event
  olderCursor: null,
  exhausted: false,
  timer: null,
  filterKey: "",
  seenOnce: false,
};

function streamFilters() {
  const form = $("#filters");
  const value = (n) => form.elements[n].value.trim();
  const toMs = (v) => (v ? new Date(v).getTime() : null);
  return { name: value("name"), after: toMs(value("after")), before: toMs(value("before")) };
}

function listQuery(filters, cursor) {
  const q = new URLSearchParams({ limit: String(PAGE) });
  // An exact name is filtered by the service; a pattern is matched here, on the pages it returns.
  if (filters.name && !filters.name.includes("*")) q.set("name", filters.name);
  if (filters.after) q.set("received_after", String(filters.after));
  if (filters.before) q.set("received_before", String(filters.before));
  if (cursor) q.set("cursor", cursor);
  return "/v1/events?" + q;
}

function keep(filters, e) { return !filters.name || !filters.name.includes("*") || matches(filters.name, e.name); }

async function pollStream() {
  const filters = streamFilters();
  const key = JSON.stringify([filters, currentEnv(), session.get("signingKey")]);
  if (key !== stream.filterKey) {
    stream.filterKey = key;
    stream.events.clear();
    stream.olderCursor = null;
    stream.exhausted = false;
    stream.seenOnce = false;
  }
  try {
    const page = await api(listQuery(filters));
    if (key !== stream.filterKey) return;
    const fresh = new Set();
    for (const e of page.data.filter((e) => keep(filters, e))) {
      if (stream.seenOnce && !stream.events.has(e.internal_id)) fresh.add(e.internal_id);
      stream.events.set(e.internal_id, e);
    }
    if (!stream.seenOnce) {
      stream.olderCursor = page.metadata.next_cursor;
      stream.exhausted = !page.metadata.next_cursor;
      stream.seenOnce = true;
    }
    renderStream(fresh);
    setLive(true, `Live: updated ${formatTime(Date.now()).slice(11, 19)}`);
    showError(null);
  } catch (error) {
    setLive(false, "Not updating: " + error.message);
    showError(error);
  }
}

async function loadOlder() {
  if (!stream.olderCursor) return;
  const button = $("#older");
  button.disabled = true;
  try {
    const filters = streamFilters();
    const key = stream.filterKey;
    const page = await api(listQuery(filters, stream.olderCursor));
    if (key !== stream.filterKey) return; // the filters changed meanwhile: this page belongs to the old ones
    for (const e of page.data.filter((e) => keep(filters, e))) stream.events.set(e.internal_id, e);
    stream.olderCursor = page.metadata.next_cursor;
    stream.exhausted = !page.metadata.next_cursor;
    renderStream(new Set());
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

function setLive(on, text) {
  $("#live-dot").className = "dot " + (on ? "on" : "off");
  $("#live-status").textContent = text;
}

function renderStream(fresh) {
  const body = $("#events tbody");
  const sorted = [...stream.events.values()].sort((a, b) => (a.internal_id < b.internal_id ? 1 : -1));
  const rows = sorted.map((e) => {
    const tr = el("tr", { "data-id": e.internal_id, class: fresh.has(e.internal_id) ? "new" : undefined },
      el("td", {}, el("a", { href: "#/event/" + e.internal_id, text: e.name })),
      el("td", { class: "mono" }, e.internal_id),
      el("td", { class: "mono" }, e.id ?? ""),
      el("td", { class: "outcome-" + outcomeOf(e) }, outcomeOf(e)),
      el("td", {}, e.env),
      el("td", {}, timeElement(e.received_at)),
      el("td", {}, e.due ? timeElement(e.due) : ""),
      el("td", { class: "state state-" + e.state }, e.state));
    return tr;
  });
  body.replaceChildren(...rows);
  $("#events-empty").hidden = rows.length > 0;
  const older = $("#older");
  older.hidden = stream.exhausted;
}

function startStream() {
  stopStream();
  const tick = async () => {
    await pollStream();
    if (stream.timer !== null) stream.timer = setTimeout(tick, POLL_MS);
  };
  stream.timer = 0;
  tick();
}
function stopStream() { if (stream.timer) clearTimeout(stream.timer); stream.timer = null; }

// ---- one event ---------------------------------------------------------------------------------

async function showEvent(id) {
  const body = $("#event-body");
  body.replaceChildren(el("p", { class: "muted", text: "Loading…" }));
  try {
    const [event, deliveries] = await Promise.all([api(`/v1/events/${id}`), api(`/v1/events/${id}/deliveries`)]);
    renderEvent(event.data, deliveries.data);
    showError(null);
  } catch (error) {
    body.replaceChildren(el("p", { class: "erased", text: `${error.status || ""} ${error.message}` }));
  }
}

function curlFor(e) {
  const event = { name: e.name, data: e.data };
  if (e.user) event.user = e.user;
  if (e.id) event.id = e.id;
  if (e.v) event.v = e.v;
  if (e.due && e.due > Date.now()) event.ts = e.ts;
  const key = session.get("eventKey") || "console";
  const quote = (s) => "'" + s.replaceAll("'", "'\\''") + "'";
  const parts = ["curl -s -X POST", quote(`${location.origin}/e/${encodeURIComponent(key)}`), "-H 'Content-Type: application/json'"];
  if (e.env && currentEnv()) parts.push("-H " + quote("x-inngest-env: " + e.env));
  parts.push("-d " + quote(JSON.stringify(event)));
  return parts.join(" \\\n  ");
}

function renderEvent(e, deliveries) {
  $("#event-title").textContent = e.name;
  const externalId = e.user && typeof e.user === "object" ? e.user.external_id : undefined;
  const facts = el("dl", { class: "facts" },
    el("dt", {}, "Internal id"), el("dd", { class: "mono" }, e.internal_id),
    el("dt", {}, el("code", {}, "id")), el("dd", { class: "mono" }, e.id ?? "—"),
    el("dt", {}, "State"), el("dd", { class: "state state-" + e.state }, e.state),
    el("dt", {}, "Environment"), el("dd", {}, e.env),
    el("dt", {}, el("code", {}, "ts")), el("dd", {}, `${e.ts} `, el("span", { class: "muted" }, "(", timeElement(e.ts), ")")),
    el("dt", {}, el("code", {}, "v")), el("dd", {}, e.v ?? "—"),
    el("dt", {}, "Received"), el("dd", {}, timeElement(e.received_at)),
    ...(e.due ? [el("dt", {}, "Due"), el("dd", {}, timeElement(e.due), " ", el("span", { class: "muted" }, e.state === "scheduled" ? `(in ${countdown(e.due)})` : ""))] : []));

  const curl = el("pre", { class: "curl", id: "curl", hidden: true });
  const actions = el("div", { class: "actions" },
    el("button", { type: "button", id: "replay", disabled: e.state === "scheduled" || e.state === "cancelled" || undefined, onclick: () => replay(e) }, "Replay"),
    el("button", { type: "button", id: "copy-curl", onclick: async () => {
      curl.textContent = curlFor(e);
      curl.hidden = false;
      try { await navigator.clipboard.writeText(curl.textContent); $("#copy-status").textContent = "Copied to the clipboard."; }
      catch { $("#copy-status").textContent = "Select the command below to copy it."; }
    } }, "Copy as curl"),
    ...(e.state === "scheduled" ? rescheduleControls(e) : []),
    externalId !== undefined && !e.user_erased
      ? el("button", { type: "button", class: "danger", id: "erase", onclick: () => erase(e, String(externalId)) }, "Erase this person's user data")
      : null,
    el("span", { role: "status", id: "copy-status", class: "muted" }));

  const user = e.user_erased
    ? el("p", { class: "erased", id: "user-erased" }, "Erased: this person's user data was made permanently unreadable.")
    : jsonTree(e.user ?? {}, undefined);

  const queues = el("table", { class: "grid", id: "deliveries" },
    el("caption", { class: "sr-only" }, "Deliveries"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Delivery"), el("th", { scope: "col" }, "Queues"), el("th", { scope: "col" }, "When"))),
    el("tbody", {},
      el("tr", {}, el("td", {}, "original"), el("td", { class: "mono wrap" }, deliveries.queues.join(", ")),
        el("td", {}, deliveries.delivered_at ? timeElement(deliveries.delivered_at) : deliveries.state === "scheduled" ? ["waits until ", timeElement(deliveries.due)] : deliveries.state)),
      deliveries.replays.map((r) => el("tr", { class: "replay" },
        el("td", {}, "replay", el("div", { class: "mono", title: "delivery_id" }, r.delivery_id)), el("td", { class: "mono wrap" }, r.queues.join(", ")), el("td", {}, timeElement(r.replayed_at))))));

  $("#event-body").replaceChildren(el("div", { class: "event-grid" },
    el("div", {}, facts, actions, curl, el("h3", {}, "Queues and replays"), el("div", { class: "table-wrap" }, queues)),
    el("div", {},
      el("details", { class: "block", open: true }, el("summary", {}, el("code", {}, "data")), jsonTree(e.data)),
      el("details", { class: "block", open: true, id: "user" }, el("summary", {}, el("code", {}, "user"), el("span", { class: "muted" }, " (decrypted for you; encrypted at rest)")), user))));
}

function rescheduleControls(e) {
  const input = el("input", { type: "datetime-local", step: "1", id: "reschedule-at", value: toLocalInput(e.due) });
  return [
    el("label", {}, "Due at", input),
    el("button", { type: "button", id: "reschedule", onclick: () => reschedule(e.internal_id, new Date(input.value).getTime()) }, "Reschedule"),
    el("button", { type: "button", class: "danger", id: "cancel", onclick: () => cancel(e.internal_id, e.name) }, "Cancel event"),
  ];
}
function toLocalInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

async function replay(e) {
  if (!(await confirmAction("Replay this event?", `${e.name} (${e.internal_id}) goes to its queues again, marked "replay": true with a new delivery_id. Consumers will receive it once more.`, "Replay"))) return;
  try {
    const result = await api(`/v1/events/${e.internal_id}/replay`, { method: "POST" });
    announce(`Replayed as delivery ${result.data.delivery_id}.`);
    await showEvent(e.internal_id);
  } catch (error) { showError(error); }
}

async function reschedule(id, ts) {
  if (!Number.isFinite(ts)) { showError(new Error("Choose a due time first.")); return; }
  try {
    await api(`/v1/events/${id}`, { method: "PATCH", body: { ts } });
    announce("Rescheduled.");
    await refreshAfterChange(id);
  } catch (error) { showError(error); }
}

async function askReschedule(s) {
  const dialog = $("#reschedule-dialog");
  const input = $("#reschedule-dialog-at");
  $("#reschedule-dialog-text").textContent = `${s.name} (${s.internal_id}), now due ${formatTime(s.due)}.`;
  input.value = toLocalInput(s.due);
  dialog.returnValue = "";
  dialog.showModal();
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "ok") reschedule(s.internal_id, new Date(input.value).getTime());
  }, { once: true });
}

async function cancel(id, name) {
  if (!(await confirmAction("Cancel this scheduled event?", `${name} (${id}) will never be delivered. This cannot be undone.`, "Cancel event"))) return;
  try {
    await api(`/v1/events/${id}`, { method: "DELETE" });
    announce("Cancelled.");
    await refreshAfterChange(id);
  } catch (error) { showError(error); }
}

async function erase(e, externalId) {
  if (!(await confirmAction("Erase this person's user data?", `Every event's user data for external_id "${externalId}" in ${e.env} becomes permanently unreadable — in storage, in queue messages and in replays. This cannot be undone.`, "Erase"))) return;
  try {
    await api("/v1/users/erase", { method: "POST", body: { external_id: externalId } });
    announce(`Erased the user data of ${externalId}.`);
    await showEvent(e.internal_id);
  } catch (error) { showError(error); }
}

async function refreshAfterChange(id) {
  if (location.hash.startsWith("#/event/")) await showEvent(id);
  else await loadScheduled(true);
}

function announce(text) {
  const status = $("#copy-status") || $("#scheduled-status");
  if (status) status.textContent = text;
}

// ---- send --------------------------------------------------------------------------------------

const examples = {
  one: () => ({ name: "app/user.created", data: { plan: "pro", seats: 3 }, user: { external_id: "user-42", email: "ada@example.com" } }),
  batch: () => [
    { name: "app/order.placed", data: { order: "o-1", total: 42.5 }, id: "order-o-1" },
    { name: "app/order.reminder", data: { order: "o-1" }, ts: Date.now() + 10 * 60 * 1000 },
  ],
};

async function send(event) {
  event.preventDefault();
  const form = $("#send-form");
  const errors = $("#send-errors");
  const result = $("#send-result");
  errors.replaceChildren();
  result.replaceChildren();
  const key = form.elements.eventKey.value.trim() || session.get("eventKey") || "console";
  const env = form.elements.env.value.trim();
  const headers = { "Content-Type": "application/json" };
  if (env) headers["x-inngest-env"] = env;
  // The text goes as typed: the service's own validation answers, exactly as it would answer an SDK.
  let response, body;
  try {
    response = await fetch(`/e/${encodeURIComponent(key)}`, { method: "POST", headers, body: form.elements.body.value });
    body = await response.json();
  } catch (error) {
    errors.replaceChildren(el("div", { class: "errors" }, el("h3", {}, "Not sent"), el("p", {}, error.message)));
    return;
  }
  if (body.status !== 200) {
    errors.replaceChildren(el("div", { class: "errors" },
      el("h3", {}, `Refused (${response.status}): nothing was stored`),
      el("p", { class: "api-error" }, body.error),
      body.errors?.length ? el("ul", {}, body.errors.map((x) => el("li", {}, `event ${x.index}`, x.field ? `, ${x.field}` : "", `: ${x.message}`))) : null));
    return;
  }
  result.replaceChildren(el("div", { class: "result" },
    el("h3", {}, `Sent: ${body.ids.length} event${body.ids.length === 1 ? "" : "s"}`),
    el("table", { class: "grid", id: "send-outcomes" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "#"), el("th", { scope: "col" }, "Internal id"), el("th", { scope: "col" }, "Outcome"), el("th", { scope: "col" }, "Due"))),
      el("tbody", {}, body.events.map((x, i) => el("tr", {},
        el("td", {}, String(i)), el("td", { class: "mono" }, el("a", { href: "#/event/" + x.id, text: x.id })),
        el("td", { class: "outcome-" + x.outcome }, x.outcome), el("td", {}, x.due ? timeElement(x.due) : "")))))));
}

function setEditor(value) { $("#editor").value = JSON.stringify(value, null, 2); }

// ---- scheduled ---------------------------------------------------------------------------------

const scheduled = { items: [], cursor: null, ticker: null };

async function loadScheduled(reset) {
  try {
    const q = new URLSearchParams({ limit: "50" });
    if (!reset && scheduled.cursor) q.set("cursor", scheduled.cursor);
    const page = await api("/v1/scheduled?" + q);
    scheduled.items = reset ? page.data : scheduled.items.concat(page.data);
    scheduled.cursor = page.metadata.next_cursor;
    renderScheduled();
    showError(null);
  } catch (error) { showError(error); }
}

function renderScheduled() {
  const rows = scheduled.items.map((s) => el("tr", { "data-id": s.internal_id },
    el("td", {}, el("a", { href: "#/event/" + s.internal_id, text: s.name })),
    el("td", { class: "mono" }, s.internal_id),
    el("td", { class: "mono" }, s.id ?? ""),
    el("td", {}, timeElement(s.due)),
    el("td", { class: "countdown", "data-due": String(s.due) }, countdown(s.due)),
    el("td", {}, s.where === "queued" ? "on the due queue (invisible until due)" : s.where === "parked" ? "parked (more than the horizon away)" : s.where),
    el("td", {}, el("div", { class: "row" },
      el("button", { type: "button", class: "small", "aria-label": `Reschedule ${s.name} ${s.internal_id}`, onclick: () => askReschedule(s) }, "Reschedule"),
      el("button", { type: "button", class: "small danger", "aria-label": `Cancel ${s.name} ${s.internal_id}`, onclick: () => cancel(s.internal_id, s.name) }, "Cancel")))));
  $("#scheduled tbody").replaceChildren(...rows);
  $("#scheduled-empty").hidden = rows.length > 0;
  $("#scheduled-more").hidden = !scheduled.cursor;
}

function tickCountdowns() {
  for (const cell of document.querySelectorAll("#scheduled .countdown")) cell.textContent = countdown(Number(cell.dataset.due));
}

// ---- queues ------------------------------------------------------------------------------------

async function loadQueues() {
  try {
    const { data } = await api("/v1/queues");
    const routes = data.routes.length
      ? el("table", { class: "grid", id: "routes-table" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Events named"), el("th", { scope: "col" }, "Go to"))),
        el("tbody", {},
          data.routes.map((r) => el("tr", {}, el("td", { class: "mono" }, r.pattern), el("td", { class: "mono" }, r.shards > 1 ? `${r.queue}-0 … ${r.queue}-${r.shards - 1} (by internal id)` : r.queue))),
          el("tr", {}, el("td", { class: "muted" }, "no route matches"), el("td", { class: "mono" }, data.default_queue))))
      : el("p", {}, "No routes configured: every event goes to ", el("code", {}, data.default_queue), ".");
    $("#routes").replaceChildren(routes);
    $("#queues tbody").replaceChildren(...data.queues.map((q) => el("tr", {},
      el("td", { class: "mono" }, q.name),
      el("td", { class: "wrap" }, q.role === "due" ? "markers of scheduled events (internal)" : q.patterns.length ? q.patterns.join(", ") + (q.role.startsWith("default") ? ", and events no route matches" : "") : "events no route matches",
        q.shard !== null ? el("span", { class: "muted" }, ` (shard ${q.shard})`) : ""),
      el("td", {}, q.exists ? String(q.approximate_messages) : el("span", { class: "muted" }, "not created yet")),
      el("td", {}, el("button", { type: "button", class: "small", "aria-label": `Peek at ${q.name}`, disabled: !q.exists || undefined, onclick: () => peek(q.name) }, "Peek")))));
    showError(null);
  } catch (error) { showError(error); }
}

async function peek(queue) {
  const target = $("#peek");
  try {
    const { data } = await api(`/v1/queues/${encodeURIComponent(queue)}/messages?limit=10`);
    target.replaceChildren(el("h3", {}, "Next messages on ", el("code", {}, queue)),
      ...(data.length === 0 ? [el("p", { class: "muted" }, "No visible message.")] : []),
      ...data.map((m, i) => el("article", { class: "peek-message" },
        el("h4", {}, `#${i + 1} `, el("span", { class: "muted mono" }, `${m.message_id} · inserted ${m.inserted_on} · dequeued ${m.dequeue_count}×`)),
        el("pre", { class: "json" }, JSON.stringify(m.message, null, 2)))));
  } catch (error) { showError(error); }
}

// ---- navigation, keys, theme -------------------------------------------------------------------

function route() {
  const hash = location.hash || "#/stream";
  const [, view, arg] = hash.match(/^#\/([a-z]+)(?:\/(.+))?$/) || [null, "stream"];
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== "view-" + view;
  for (const link of document.querySelectorAll(".tabs a")) {
    if (link.dataset.view === view || (view === "event" && link.dataset.view === "stream")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (view === "stream") startStream(); else stopStream();
  clearInterval(scheduled.ticker);
  if (view === "event" && arg) showEvent(decodeURIComponent(arg));
  if (view === "scheduled") { loadScheduled(true); scheduled.ticker = setInterval(tickCountdowns, 1000); }
  if (view === "queues") loadQueues();
  if (view === "send" && !$("#editor").value) setEditor(examples.one());
  const title = { stream: "Stream", event: "Event", send: "Send", scheduled: "Scheduled", queues: "Queues" }[view] || "Stream";
  document.title = `${title} · EventIngest console`;
}

const themes = ["auto", "light", "dark"];
function applyTheme(theme) {
  if (theme === "auto") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.dataset.theme = theme;
  $("#theme-toggle").textContent = "Theme: " + theme;
  localStorage.setItem("eventingest.theme", theme);
}

function init() {
  applyTheme(localStorage.getItem("eventingest.theme") || "auto");
  $("#theme-toggle").addEventListener("click", () => {
    const current = localStorage.getItem("eventingest.theme") || "auto";
    applyTheme(themes[(themes.indexOf(current) + 1) % themes.length]);
  });

  const keys = $("#keys");
  keys.elements.signingKey.value = session.get("signingKey");
  keys.elements.eventKey.value = session.get("eventKey");
  $("#keys-toggle").addEventListener("click", () => {
    keys.hidden = !keys.hidden;
    $("#keys-toggle").setAttribute("aria-expanded", String(!keys.hidden));
    if (!keys.hidden) keys.elements.signingKey.focus();
  });
  keys.addEventListener("submit", (event) => {
    event.preventDefault();
    session.set("signingKey", keys.elements.signingKey.value.trim());
    session.set("eventKey", keys.elements.eventKey.value.trim());
    $("#keys-status").textContent = "Saved for this tab.";
    route();
  });

  const filters = $("#filters");
  filters.elements.env.value = session.get("env");
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    session.set("env", filters.elements.env.value.trim());
    startStream();
  });
  filters.addEventListener("reset", () => setTimeout(() => { session.set("env", ""); startStream(); }));
  $("#older").addEventListener("click", loadOlder);

  $("#send-form").addEventListener("submit", send);
  $("#send-form").elements.env.value = session.get("env");
  $("#editor").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("#send-form").requestSubmit();
  });
  $("#format").addEventListener("click", () => {
    try { setEditor(JSON.parse($("#editor").value)); $("#send-errors").replaceChildren(); }
    catch (error) { $("#send-errors").replaceChildren(el("div", { class: "errors" }, el("h3", {}, "Not JSON"), el("p", {}, error.message))); }
  });
  $("#example-one").addEventListener("click", () => setEditor(examples.one()));
  $("#example-batch").addEventListener("click", () => setEditor(examples.batch()));

  $("#scheduled-more").addEventListener("click", () => loadScheduled(false));
  $("#queues-refresh").addEventListener("click", loadQueues);

  // Polling stops while the tab is hidden and resumes at once when it is shown again.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) stopStream(); else if ((location.hash || "#/stream").startsWith("#/stream")) startStream();
  });
  window.addEventListener("hashchange", () => { route(); $("#main").focus({ preventScroll: true }); });
  route();
}

init();
