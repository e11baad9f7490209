// The Cairn dashboard: one page, no build step, no library (the graph's drawing is in
// graph.js). It reads the server's own API (`/api/v1`) with the token the user logged in
// with, and follows `/api/v1/events` for live updates. Every text from the server goes
// into the page as text (never as HTML).

import { drawGraph, layOut } from "./graph.js";

const TOKEN_KEY = "cairn.token";
const ROW_HEIGHT = 28;
const FIRST_PAGE = 200;
const NEXT_PAGE = 10000;

// ---------- small helpers ----------

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "class") element.className = value;
    // Through the CSSOM: the page's policy refuses style attributes.
    else if (key === "style") element.style.cssText = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function stateBadge(state) {
  return h("span", { class: `state state-${state}`, "data-state": state }, state);
}

function when(ms) {
  if (!ms) return "";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function enc(text) {
  return encodeURIComponent(text);
}

// The parts of a resource id: `fs::File[web1,path=/etc/motd]`.
function idParts(id) {
  const open = id.indexOf("[");
  const comma = id.indexOf(",", open);
  return { type: open > 0 ? id.slice(0, open) : id, agent: open > 0 && comma > open ? id.slice(open + 1, comma) : "" };
}

// The API's errors are `{"error": {"status": 404, "message": "..."}}`.
function errorMessage(body) {
  const error = body && body.error;
  return error && (typeof error === "string" ? error : error.message);
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function authHeaders() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

async function api(path, options = {}) {
  const response = await fetch(`/api/v1${path}`, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      message = errorMessage(body) || message;
    } catch (_) { /* not JSON */ }
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(message);
    }
    throw new ApiError(response.status, message);
  }
  return response.json();
}

// ---------- the event stream (server-sent events read with fetch, so the token goes in a header) ----------

const live = { controller: null, environment: null, last: null, listeners: new Set() };

function onEvent(listener) {
  live.listeners.add(listener);
  return () => live.listeners.delete(listener);
}

function follow(environment) {
  if (live.environment === environment && live.controller) return;
  if (live.controller) live.controller.abort();
  live.environment = environment;
  live.last = null;
  live.controller = new AbortController();
  readStream(environment, live.controller.signal);
}

function setLive(on) {
  const badge = document.getElementById("live");
  badge.hidden = false;
  badge.textContent = on ? "live" : "reconnecting…";
  badge.classList.toggle("off", !on);
}

async function readStream(environment, signal) {
  while (!signal.aborted) {
    try {
      const headers = authHeaders();
      if (live.last !== null) headers["Last-Event-ID"] = String(live.last);
      const response = await fetch(`/api/v1/events?environment=${enc(environment)}`, { headers, signal });
      if (!response.ok) throw new Error(`events: ${response.status}`);
      setLive(true);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let id = null, kind = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("id:")) id = line.slice(3).trim();
            else if (line.startsWith("event:")) kind = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).replace(/^ /, "");
          }
          if (!data) continue;
          if (id !== null) live.last = id;
          let parsed;
          try { parsed = JSON.parse(data); } catch (_) { continue; }
          for (const listener of [...live.listeners]) listener(kind, parsed);
        }
      }
    } catch (error) {
      if (signal.aborted) return;
    }
    setLive(false);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// ---------- routing ----------

let cleanup = [];

function route() {
  for (const undo of cleanup) undo();
  cleanup = [];
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, queryText] = hash.split("?");
  const query = new URLSearchParams(queryText || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const main = document.getElementById("main");
  main.replaceChildren();
  const render = async () => {
    if (parts.length === 0) return environmentsPage(main);
    if (parts[0] === "env" && parts[1]) {
      const env = parts[1];
      follow(env);
      const page = parts[2] || "resources";
      crumbs([["#/", "environments"], [`#/env/${enc(env)}`, env]]);
      main.append(tabs(env, page));
      const body = h("div");
      main.append(body);
      switch (page) {
        case "resources": return resourcesPage(body, env, query);
        case "resource": return resourcePage(body, env, query.get("id") || "");
        case "versions": return versionsPage(body, env);
        case "diff": return diffPage(body, env, parts[3], parts[4]);
        case "agents": return agentsPage(body, env);
        case "compiles": return compilesPage(body, env);
        case "compile": return compilePage(body, env, parts[3]);
        case "graph": return graphPage(body, env, parts[3]);
        case "events": return eventsPage(body, env);
      }
    }
    main.append(h("p", { class: "error" }, `No such page: ${hash}`));
  };
  render().catch((error) => {
    if (error instanceof ApiError && error.status === 401) return;
    main.append(h("p", { class: "error", role: "alert" }, error.message || String(error)));
  });
}

function crumbs(items) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...items.flatMap(([href, label], i) => (i ? [h("span", {}, "›")] : []).concat(h("a", { href }, label))));
}

function tabs(env, page) {
  const names = [["resources", "Resources"], ["versions", "Versions"], ["agents", "Agents"], ["compiles", "Compiles"], ["graph", "Graph"], ["events", "Events"]];
  const active = { resource: "resources", diff: "versions", compile: "compiles" }[page] || page;
  return h("nav", { class: "tabs" }, names.map(([key, label]) =>
    h("a", { href: `#/env/${enc(env)}/${key}`, class: key === active ? "active" : "", "data-tab": key }, label)));
}

// ---------- login ----------

function showLogin(message) {
  if (live.controller) live.controller.abort();
  live.controller = null;
  live.environment = null;
  document.getElementById("logout").hidden = true;
  document.getElementById("live").hidden = true;
  document.getElementById("crumbs").replaceChildren();
  const input = h("input", { type: "password", name: "token", placeholder: "cairn_…", autocomplete: "off", "aria-label": "token" });
  const error = h("p", { class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "panel login", id: "login", onsubmit: async (event) => {
    event.preventDefault();
    const candidate = input.value.trim();
    // Tried here, not through `api`, which answers a 401 with a fresh login form.
    let response;
    try {
      response = await fetch("/api/v1/environments", { headers: { Authorization: `Bearer ${candidate}` } });
    } catch (failure) {
      error.textContent = `The server does not answer: ${failure.message}`;
      return;
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try { message = errorMessage(await response.json()) || message; } catch (_) { /* not JSON */ }
      error.textContent = message;
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, candidate);
    document.getElementById("logout").hidden = false;
    route();
  } }, h("h1", {}, "Log in"), h("p", { class: "muted" }, "A token of this server: an admin token, or a token of one environment (any role)."), input, h("button", { type: "submit" }, "Log in"), error);
  document.getElementById("main").replaceChildren(form);
  input.focus();
}

// ---------- pages ----------

async function environmentsPage(main) {
  crumbs([["#/", "environments"]]);
  const { environments } = await api("/environments");
  main.append(h("h1", {}, "Environments"));
  if (environments.length === 0) {
    main.append(h("p", { class: "muted" }, "No environment yet: `cairn env create NAME`."));
    return;
  }
  const rows = environments.map((env) => {
    const counts = h("td", {}, "…");
    const versions = h("td", {}, "…");
    api(`/environments/${enc(env.name)}/status`).then((status) => {
      versions.textContent = `${status.released_version ?? "none"} released, ${status.latest_version ?? "none"} latest`;
      counts.replaceChildren(...Object.entries(status.resources).map(([state, n]) => h("span", { style: "margin-right:8px" }, stateBadge(state), ` ${n}`)));
    }).catch(() => { counts.textContent = "?"; });
    return h("tr", {}, h("td", {}, h("a", { href: `#/env/${enc(env.name)}/resources` }, env.name)), versions, counts, h("td", { class: "muted" }, when(env.created_ms)));
  });
  main.append(h("table", { id: "environments" }, h("tr", {}, h("th", {}, "name"), h("th", {}, "versions"), h("th", {}, "resources"), h("th", {}, "created")), rows));
}

// The resources of an environment: filtered on the server (state, agent, type, id prefix),
// searched in the page, loaded in pages and drawn as a virtual list (only the rows in view
// are in the document), kept current by `resource.state` events.
async function resourcesPage(body, env, query) {
  const filters = { state: query.get("state") || "", agent: query.get("agent") || "", type: query.get("type") || "", prefix: query.get("prefix") || "" };
  const status = await api(`/environments/${enc(env)}/status`);
  const counts = new Map(Object.entries(status.resources));
  const countsBar = h("div", { class: "counts", id: "counts" });
  const drawCounts = () => countsBar.replaceChildren(
    h("span", {}, `version ${status.released_version ?? "none"} released`),
    ...[...counts.entries()].filter(([, n]) => n > 0).map(([state, n]) => h("a", { href: `#/env/${enc(env)}/resources?state=${enc(state)}`, "data-count": state }, stateBadge(state), ` ${n}`)));
  drawCounts();
  const setFilter = (key, value) => {
    const next = new URLSearchParams({ ...filters, [key]: value });
    for (const [k, v] of [...next.entries()]) if (!v) next.delete(k);
    location.hash = `#/env/${enc(env)}/resources${next.toString() ? "?" + next : ""}`;
  };
  const stateSelect = h("select", { name: "state", onchange: (e) => setFilter("state", e.target.value) },
    h("option", { value: "" }, "every state"),
    ["deployed", "failed", "deploying", "available", "skipped", "undefined", "skipped_for_undefined", "unavailable", "orphaned", "cancelled"].map((s) => h("option", { value: s, selected: s === filters.state }, s)));
  const agentInput = h("input", { name: "agent", placeholder: "agent", value: filters.agent, onchange: (e) => setFilter("agent", e.target.value.trim()) });
  const typeInput = h("input", { name: "type", placeholder: "type (fs::File)", value: filters.type, onchange: (e) => setFilter("type", e.target.value.trim()) });
  const search = h("input", { name: "search", type: "search", placeholder: "search ids", autocomplete: "off" });
  const shown = h("span", { class: "muted", id: "shown" });
  body.append(countsBar, h("div", { class: "toolbar" }, stateSelect, agentInput, typeInput, search, shown));

  const rows = [];
  const index = new Map();
  let view = null; // indices matching the search, or null for every row
  const list = h("div", { class: "list", id: "resources", role: "list" });
  const spacer = h("div", { class: "spacer" });
  const empty = h("p", { class: "muted", style: "padding:8px", hidden: true }, "No resource matches.");
  list.append(empty, spacer);
  body.append(list);
  let drawn = new Map();
  let scheduled = false;
  let complete = false;
  const length = () => (view ? view.length : rows.length);
  const draw = () => {
    scheduled = false;
    spacer.style.height = `${length() * ROW_HEIGHT}px`;
    const first = Math.max(0, Math.floor(list.scrollTop / ROW_HEIGHT) - 10);
    const last = Math.min(length(), Math.ceil((list.scrollTop + list.clientHeight) / ROW_HEIGHT) + 10);
    const keep = new Map();
    for (let n = first; n < last; n++) {
      const at = view ? view[n] : n;
      const row = rows[at];
      const key = `${n}:${row.resource}:${row.state}:${row.version}`;
      let element = drawn.get(key);
      if (!element) {
        element = h("div", { class: "row", role: "listitem", "data-id": row.resource, "data-state": row.state, style: `top:${n * ROW_HEIGHT}px` },
          stateBadge(row.state),
          h("a", { class: "id", href: `#/env/${enc(env)}/resource?id=${enc(row.resource)}`, title: row.resource }, row.resource),
          h("span", { class: "version" }, `v${row.version}`));
        spacer.append(element);
      }
      keep.set(key, element);
    }
    for (const [key, element] of drawn) if (!keep.has(key)) element.remove();
    drawn = keep;
    shown.textContent = `${length()} shown${complete ? "" : " (loading…)"}`;
    empty.hidden = !complete || length() > 0;
    list.dataset.rows = String(length());
    list.dataset.complete = String(complete);
  };
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(draw);
    }
  };
  list.addEventListener("scroll", schedule, { passive: true });
  window.addEventListener("resize", schedule);
  cleanup.push(() => window.removeEventListener("resize", schedule));
  const applySearch = () => {
    const text = search.value.trim().toLowerCase();
    view = text ? rows.flatMap((row, i) => (row.resource.toLowerCase().includes(text) ? [i] : [])) : null;
    schedule();
  };
  search.addEventListener("input", applySearch);
  const matches = (id, state) => (!filters.state || filters.state === state) && (!filters.prefix || id.startsWith(filters.prefix))
    && (!filters.agent || idParts(id).agent === filters.agent) && (!filters.type || idParts(id).type === filters.type);
  cleanup.push(onEvent((kind, event) => {
    if (kind !== "resource.state" || event.environment !== env) return;
    const { resource, state, version } = event.data;
    const at = index.get(resource);
    if (at !== undefined) {
      const old = rows[at].state;
      counts.set(old, Math.max(0, (counts.get(old) || 1) - 1));
      rows[at] = { ...rows[at], state, version };
    } else if (matches(resource, state)) {
      index.set(resource, rows.length);
      rows.push({ resource, state, version });
      if (view && resource.toLowerCase().includes(search.value.trim().toLowerCase())) view.push(rows.length - 1);
    }
    counts.set(state, (counts.get(state) || 0) + 1);
    drawCounts();
    schedule();
  }));
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
  let after = null;
  let limit = FIRST_PAGE;
  let stopped = false;
  cleanup.push(() => { stopped = true; });
  for (;;) {
    const page = new URLSearchParams(params);
    page.set("limit", String(limit));
    if (after) page.set("after", after);
    const { resources, next } = await api(`/environments/${enc(env)}/resources?${page}`);
    if (stopped) return;
    for (const status of resources) {
      if (index.has(status.resource)) continue;
      index.set(status.resource, rows.length);
      rows.push({ resource: status.resource, state: status.state, version: status.version });
    }
    if (view) applySearch();
    if (!next) break;
    after = next;
    limit = NEXT_PAGE;
    schedule();
  }
  complete = true;
  schedule();
}

async function resourcePage(body, env, id) {
  const detail = await api(`/environments/${enc(env)}/resource?id=${enc(id)}`);
  const { type, agent } = idParts(detail.id);
  body.append(h("h1", { id: "resource-id" }, detail.id),
    h("div", { class: "panel" },
      h("p", {}, "State: ", detail.status ? stateBadge(detail.status.state) : h("span", { class: "muted" }, "never deployed"),
        detail.status ? ` (version ${detail.status.version})` : ""),
      h("p", {}, `Type ${type}, agent `, h("a", { href: `#/env/${enc(env)}/resources?agent=${enc(agent)}` }, agent),
        detail.desired_version ? `, desired in version ${detail.desired_version}` : "")));
  if (detail.desired) {
    body.append(h("h2", {}, "Desired state"), h("pre", { id: "desired" }, JSON.stringify(detail.desired.attributes, null, 2)));
    if (detail.desired.requires.length) {
      body.append(h("h2", {}, "Requires"), h("ul", {}, detail.desired.requires.map((r) => h("li", {}, h("a", { href: `#/env/${enc(env)}/resource?id=${enc(r)}` }, r)))));
    }
  }
  body.append(h("h2", {}, `Action log (${detail.logs.length})`));
  const logs = [...detail.logs].reverse();
  body.append(h("table", { id: "logs" }, h("tr", {}, h("th", {}, "time"), h("th", {}, "version"), h("th", {}, "action"), h("th", {}, "state"), h("th", {}, "message")),
    logs.map((log) => h("tr", { class: "log", "data-state": log.state },
      h("td", {}, when(log.time_ms)), h("td", {}, log.version), h("td", {}, log.action), h("td", {}, stateBadge(log.state)),
      h("td", {}, h("div", { class: log.state === "failed" ? "error log-message" : "log-message" }, log.message || (log.changed ? "changed" : "")),
        log.diff ? h("pre", {}, log.diff) : null)))));
}

async function versionsPage(body, env) {
  const { versions } = await api(`/environments/${enc(env)}/versions`);
  if (versions.length === 0) {
    body.append(h("p", { class: "muted" }, "No version yet."));
    return;
  }
  const options = (selected) => versions.map((v) => h("option", { value: v.version, selected: v.version === selected }, `version ${v.version}${v.released ? " (released)" : ""}`));
  const from = h("select", { name: "from" }, options(versions[Math.min(1, versions.length - 1)].version));
  const to = h("select", { name: "to" }, options(versions[0].version));
  body.append(h("div", { class: "toolbar" }, "Diff ", from, " to ", to,
    h("button", { id: "diff", onclick: () => { location.hash = `#/env/${enc(env)}/diff/${from.value}/${to.value}`; } }, "Show the diff")));
  body.append(h("table", { id: "versions" }, h("tr", {}, h("th", {}, "version"), h("th", {}, "created"), h("th", {}, "resources"), h("th", {}, "released"), h("th", {}, "")),
    versions.map((v) => h("tr", {}, h("td", {}, v.version), h("td", {}, when(v.created_ms)), h("td", {}, v.resource_count), h("td", {}, v.released ? "released" : ""),
      h("td", {}, h("a", { href: `#/env/${enc(env)}/graph/${v.version}` }, "graph"))))));
}

async function diffPage(body, env, from, to) {
  const diff = await api(`/environments/${enc(env)}/versions/${enc(from)}/diff/${enc(to)}`);
  body.append(h("h1", {}, `Version ${diff.from} to ${diff.to}`),
    h("p", { id: "diff-summary" }, `${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed`));
  const link = (id) => h("a", { href: `#/env/${enc(env)}/resource?id=${enc(id)}` }, id);
  if (diff.added.length) body.append(h("h2", {}, "Added"), h("ul", { id: "added" }, diff.added.map((id) => h("li", { class: "added" }, "+ ", link(id)))));
  if (diff.removed.length) body.append(h("h2", {}, "Removed"), h("ul", { id: "removed" }, diff.removed.map((id) => h("li", { class: "removed" }, "− ", id))));
  if (diff.changed.length) {
    body.append(h("h2", {}, "Changed"), h("table", { id: "changed" }, h("tr", {}, h("th", {}, "resource"), h("th", {}, "field"), h("th", {}, "from"), h("th", {}, "to")),
      diff.changed.flatMap((c) => Object.entries(c.fields).map(([field, change], i) =>
        h("tr", {}, h("td", {}, i === 0 ? link(c.id) : ""), h("td", {}, field),
          h("td", { class: "removed" }, h("pre", {}, JSON.stringify(change.from, null, 2))), h("td", { class: "added" }, h("pre", {}, JSON.stringify(change.to, null, 2))))))));
  }
}

async function agentsPage(body, env) {
  const draw = async () => {
    const { agents, changes } = await api(`/environments/${enc(env)}/agents`);
    const process = (p) => `${p.host} pid ${p.pid} (session ${p.session.slice(0, 8)}, server ${p.server})`;
    body.replaceChildren(
      h("table", { id: "agents" }, h("tr", {}, h("th", {}, "agent"), h("th", {}, "primary"), h("th", {}, "standby"), h("th", {}, "epoch"), h("th", {}, "")),
        agents.map((a) => h("tr", { "data-agent": a.name },
          h("td", {}, h("a", { href: `#/env/${enc(env)}/resources?agent=${enc(a.name)}` }, a.name)),
          h("td", { class: "primary" }, a.primary ? process(a.primary) : h("span", { class: "muted" }, "none")),
          h("td", { class: "standby" }, a.standby.length ? a.standby.map((s) => h("div", {}, process(s))) : h("span", { class: "muted" }, "none")),
          h("td", {}, a.epoch), h("td", {}, a.paused ? "paused" : "")))),
      h("h2", {}, "Changes of primary"),
      h("table", { id: "changes" }, h("tr", {}, h("th", {}, "time"), h("th", {}, "agent"), h("th", {}, "from"), h("th", {}, "to"), h("th", {}, "epoch"), h("th", {}, "reason")),
        changes.map((c) => h("tr", {}, h("td", {}, when(c.at_ms)), h("td", {}, c.agent), h("td", {}, (c.from_session || "—").slice(0, 8)),
          h("td", {}, (c.to_session || "—").slice(0, 8)), h("td", {}, c.epoch), h("td", {}, c.reason)))));
  };
  await draw();
  let pending = null;
  cleanup.push(onEvent((kind) => {
    if (!kind.startsWith("agent.") || pending) return;
    pending = setTimeout(() => { pending = null; draw().catch(() => {}); }, 200);
  }));
}

async function compilesPage(body, env) {
  const draw = async () => {
    const { compiles } = await api(`/environments/${enc(env)}/compiles`);
    if (compiles.length === 0) {
      body.replaceChildren(h("p", { class: "muted" }, "No compile yet (the environment names no repository, or none was asked for)."));
      return;
    }
    body.replaceChildren(h("table", { id: "compiles" }, h("tr", {}, h("th", {}, "queued"), h("th", {}, "state"), h("th", {}, "result"), h("th", {}, "commit"), h("th", {}, "version"), h("th", {}, "")),
      compiles.map((c) => h("tr", { "data-state": c.state, "data-success": c.report ? String(c.report.success) : "" },
        h("td", {}, when(c.queued_ms)), h("td", {}, c.state),
        h("td", {}, c.report ? h("span", { class: c.report.success ? "added" : "error" }, c.report.summary) : ""),
        h("td", {}, c.report && c.report.commit ? c.report.commit.slice(0, 10) : ""), h("td", {}, c.report && c.report.version ? c.report.version : ""),
        h("td", {}, h("a", { href: `#/env/${enc(env)}/compile/${enc(c.id)}`, class: "report" }, "report"))))));
  };
  await draw();
  cleanup.push(onEvent((kind) => { if (kind.startsWith("compile.")) draw().catch(() => {}); }));
}

async function compilePage(body, env, id) {
  const c = await api(`/environments/${enc(env)}/compiles/${enc(id)}`);
  const report = c.report;
  body.append(h("h1", {}, `Compile ${c.id.slice(0, 8)}`),
    h("div", { class: "panel" },
      h("p", {}, `State ${c.state}; queued ${when(c.queued_ms)}; ${c.trigger_count} trigger(s): `, c.triggers.map((t) => `${t.kind}${t.detail ? " (" + t.detail + ")" : ""}`).join(", ")),
      report ? h("p", { id: "summary", class: report.success ? "added" : "error" }, report.summary) : h("p", { class: "muted" }, "Not finished."),
      report ? h("p", {}, `Branch ${report.branch}, commit ${report.commit || "unknown"}`, report.version ? `, version ${report.version}${report.released ? " (released)" : ""}` : "") : null,
      report ? h("p", { class: "muted" }, Object.entries(report.phases).map(([phase, ms]) => `${phase} ${ms} ms`).join(" · ")) : null));
  if (!report) return;
  if (report.diagnostics.length) {
    body.append(h("h2", {}, "Diagnostics"), h("table", { id: "diagnostics" }, h("tr", {}, h("th", {}, "severity"), h("th", {}, "where"), h("th", {}, "message")),
      report.diagnostics.map((d) => h("tr", {}, h("td", { class: d.severity === "error" ? "error" : "" }, d.severity),
        h("td", {}, d.file ? `${d.file}${d.line ? ":" + d.line : ""}${d.column ? ":" + d.column : ""}` : ""), h("td", {}, d.message)))));
    const rendered = report.diagnostics.map((d) => d.rendered).filter(Boolean).join("\n");
    if (rendered) body.append(h("h2", {}, "As `cairn compile` prints them"), h("pre", { id: "rendered" }, rendered));
  }
  if (report.log) body.append(h("h2", {}, "Output"), h("pre", { id: "log" }, report.log));
}

async function eventsPage(body, env) {
  const table = h("tbody");
  body.append(h("p", { class: "muted" }, "Events of this environment as they happen (newest first, the last 500)."),
    h("table", { class: "events", id: "events" }, h("thead", {}, h("tr", {}, h("th", {}, "id"), h("th", {}, "time"), h("th", {}, "kind"), h("th", {}, "data"))), table));
  cleanup.push(onEvent((kind, event) => {
    if (!event || event.environment !== env) return;
    table.prepend(h("tr", {}, h("td", {}, event.id), h("td", {}, when(event.time_ms)), h("td", {}, kind), h("td", {}, JSON.stringify(event.data))));
    while (table.children.length > 500) table.lastChild.remove();
  }));
}

// ---------- the dependency graph (drawn by graph.js) ----------

async function graphPage(body, env, versionText) {
  let version = Number(versionText);
  if (!version) {
    const status = await api(`/environments/${enc(env)}/status`);
    version = status.released_version || status.latest_version;
    if (!version) {
      body.append(h("p", { class: "muted" }, "No version yet."));
      return;
    }
  }
  const info = h("p", { class: "muted", id: "graph-info" }, `Loading version ${version}…`);
  body.append(info);
  const resources = [];
  let after = null;
  for (;;) {
    const page = new URLSearchParams({ limit: "10000" });
    if (after) page.set("after", after);
    const detail = await api(`/environments/${enc(env)}/versions/${version}?${page}`);
    resources.push(...detail.resources);
    if (!detail.next) break;
    after = detail.next;
  }
  const states = new Map();
  after = null;
  for (;;) {
    const page = new URLSearchParams({ limit: "10000" });
    if (after) page.set("after", after);
    const { resources: statuses, next } = await api(`/environments/${enc(env)}/resources?${page}`);
    for (const s of statuses) states.set(s.resource, s.state);
    if (!next) break;
    after = next;
  }
  const layout = layOut(resources);
  const edges = layout.nodes.reduce((n, node) => n + node.requires.length, 0);
  info.textContent = `Version ${version}: ${layout.nodes.length} resources, ${edges} requires, ${layout.layers} layers. Drag to move, wheel to zoom, click a resource to open it.`;
  const legend = h("p", { class: "legend" }, Object.entries({ deployed: "deployed", failed: "failed", deploying: "deploying", skipped: "skipped", other: "other" })
    .map(([state, label]) => h("span", {}, h("span", { class: `state state-${state}` }, label))));
  const canvas = h("canvas", { id: "graph", "data-nodes": layout.nodes.length, "data-edges": edges });
  body.append(legend, canvas);
  const graph = drawGraph(canvas, layout, states, (id) => { location.hash = `#/env/${enc(env)}/resource?id=${enc(id)}`; });
  cleanup.push(graph.dispose);
  cleanup.push(onEvent((kind, event) => {
    if (kind !== "resource.state" || event.environment !== env) return;
    states.set(event.data.resource, event.data.state);
    graph.repaint();
  }));
}

// ---------- start ----------

async function start() {
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("Logged out.");
  });
  window.addEventListener("hashchange", () => { if (document.getElementById("login") === null || token()) route(); });
  // A server with --insecure-no-auth answers without a token; any other asks for one.
  const probe = await fetch("/api/v1/environments", { headers: authHeaders() });
  if (probe.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("");
    return;
  }
  document.getElementById("logout").hidden = !token();
  route();
}

start();
