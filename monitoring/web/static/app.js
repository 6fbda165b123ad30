// egov on-call page: the province's WAN (page.json, generated from the inventory at deploy time),
// each site coloured by its state, read from Prometheus' and Alertmanager's HTTP APIs through
// read-only paths of the same nginx. Plain JavaScript, no library: the page is small and the
// NOC's browsers may have no way out. docs/monitoring.md, "The on-call web page", says what the
// colours mean; every site's state is set on its <g data-site data-state> (the lab test reads it).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const SEVERITIES = ["critical", "warning", "unknown", "ok"];  // worst first, as status.py's STATES
const PAGED = new Set(["critical", "warning"]);  // other severities (the Watchdog's "none") are no incident

let page = null;
let selected = null;
let lastGood = null;

function el(tag, attrs = {}, text = "", ns = null) {
  const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

async function getJSON(url) {
  const resp = await fetch(url, { cache: "no-store" });
  if (!resp.ok) throw new Error(`${url.split("?")[0]}: HTTP ${resp.status}`);
  return resp.json();
}

async function query(expr) {
  const data = await getJSON(`${page.api.prometheus}?query=${encodeURIComponent(expr)}`);
  if (data.status !== "success") throw new Error(`Prometheus: ${expr}: ${data.error}`);
  return data.data.result;
}

// --- state -----------------------------------------------------------------------------------

// Each site's state by the rules of `egov monitor status` (monitoring/status.py, SiteStatus.state),
// so the page and the CLI never disagree: the site's own alerts count even when inhibited (its
// district's alert holds back the page, not the fact); a silenced one does not (someone said "I
// know"; it stays listed); an unreachable site is critical; a target or the WAN down with no alert
// yet is a warning; a site of which Prometheus has no series and no alert is unknown.
function siteStates(rows, alerts) {
  const st = {};
  for (const s of page.sites) st[s.name] = { targets: 0, up: 0, reachable: null, wan: null, seen: false, alerts: [] };
  const each = (result, fn) => {
    for (const r of result) {
      const s = st[r.metric.site];
      if (s) { s.seen = true; fn(s, Number(r.value[1])); }
    }
  };
  each(rows.count, (s, v) => { s.targets += v; });
  each(rows.up, (s, v) => { s.up += v; });
  each(rows.reach, (s, v) => { s.reachable = Boolean(s.reachable) || v > 0; });
  each(rows.wan, (s, v) => { s.wan = v > 0; });
  for (const a of alerts) {
    const s = st[a.labels.site];
    if (s) s.alerts.push(a);
  }
  for (const s of Object.values(st)) {
    const live = s.alerts.filter((a) => !(a.status.silencedBy || []).length);
    const states = live.map((a) => a.labels.severity).filter((sev) => SEVERITIES.includes(sev));
    if (s.reachable === false) states.push("critical");
    if (!s.alerts.length && (s.up < s.targets || s.wan === false)) states.push("warning");
    s.state = !s.seen && !s.alerts.length ? "unknown" : SEVERITIES.find((x) => states.includes(x)) || "ok";
  }
  return st;
}

// --- drawing ---------------------------------------------------------------------------------

function shorten(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function drawMap() {
  const svg = document.getElementById("map");
  const pad = 8;
  svg.setAttribute("viewBox", `${-pad} ${-pad} ${page.width + 2 * pad} ${page.height + 2 * pad}`);
  // drawn at its own size, shrunk to the window when wider (never blown up: a small lab stays readable)
  svg.setAttribute("width", page.width + 2 * pad);
  const byName = Object.fromEntries(page.sites.map((s) => [s.name, s]));
  const { width: w, height: h, squares_per_line: per } = page.box;
  for (const e of page.edges) {
    const c = byName[e.child], p = byName[e.parent];
    // a child in its parent's row (a second province site) joins it side to side
    const ends = c.y === p.y ? [c.x < p.x ? c.x + w : c.x, c.y + h / 2, c.x < p.x ? p.x : p.x + w, p.y + h / 2]
                             : [c.x + w / 2, c.y, p.x + w / 2, p.y + h];
    const [x1, y1, x2, y2] = ends;
    svg.append(el("line", { class: "edge", "data-child": e.child, x1, y1, x2, y2 }, "", SVG));
  }
  for (const s of page.sites.filter((x) => x.x !== undefined)) {
    const g = el("g", { class: "site unknown", "data-site": s.name, "data-state": "unknown",
                        transform: `translate(${s.x},${s.y})`, tabindex: "0" }, "", SVG);
    g.append(el("title", {}, `${s.title} (${s.level})`, SVG));
    g.append(el("rect", { class: "box unknown", width: w, height: h, rx: 6 }, "", SVG));
    g.append(el("text", { class: "name", x: 8, y: 18 }, shorten(s.title || s.name, 21), SVG));
    g.append(el("text", { class: "detail", x: 8, y: 36 }, s.name, SVG));
    // folded sites: one square each, on a light band so every colour shows on every box
    if (s.folded.length) {
      g.append(el("rect", { class: "band", x: 6, y: 44, width: Math.min(s.folded.length, per) * 9.5 + 4,
                            height: Math.ceil(s.folded.length / per) * 10 + 3,
                            rx: 2 }, "", SVG));
    }
    s.folded.forEach((child, i) => {
      const sq = el("rect", { class: "sq unknown", "data-site": child, width: 9, height: 9,
                              x: 8 + (i % per) * 9.5, y: 46 + Math.floor(i / per) * 10 }, "", SVG);
      sq.append(el("title", {}, byName[child].title || child, SVG));
      g.append(sq);
    });
    g.addEventListener("click", () => { selected = selected === s.name ? null : s.name; render(); });
    g.addEventListener("keydown", (ev) => { if (ev.key === "Enter") g.dispatchEvent(new Event("click")); });
    svg.append(g);
  }
}

function setState(node, state) {
  for (const s of SEVERITIES) node.classList.remove(s);
  node.classList.add(state);
}

function ago(iso) {
  let sec = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  const parts = [];
  for (const [unit, n] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (sec >= n) { parts.push(`${Math.floor(sec / n)}${unit}`); sec %= n; }
  }
  if (parts.length < 2) parts.push(`${sec}s`);
  return parts.join(" ");
}

// Inline `code` spans of the runbooks, as text nodes (never HTML from the data).
function paragraph(text) {
  const p = el("p");
  text.split("`").forEach((part, i) => p.append(i % 2 ? el("code", {}, part) : document.createTextNode(part)));
  return p;
}

function alertItem(a, byFingerprint, silences) {
  const sev = a.labels.severity;
  const li = el("li", { class: `${sev} ${a.status.state}`, "data-alert": a.labels.alertname,
                        "data-site": a.labels.site || "" });
  li.append(el("span", { class: "alertname" }, a.labels.alertname), ` ${sev}`);
  const where = [a.labels.site, a.labels.instance].filter(Boolean).join(" · ");
  li.append(el("div", { class: "meta" }, `${where} · for ${ago(a.startsAt)}`));
  if (a.annotations.summary) li.append(el("div", {}, a.annotations.summary));
  for (const id of a.status.silencedBy || []) {
    const s = silences[id];
    li.append(el("div", { class: "why" }, s ? `silenced by ${s.createdBy} until ${s.endsAt.slice(0, 16)}: ${s.comment}`
                                            : `silenced (${id})`));
  }
  for (const fp of a.status.inhibitedBy || []) {
    const by = byFingerprint[fp];
    li.append(el("div", { class: "why" }, by ? `inhibited by ${by.labels.alertname} at ${by.labels.site}`
                                             : `inhibited (${fp})`));
  }
  const key = a.labels.alertname.toLowerCase();
  const book = page.runbooks[key];
  const details = el("details");
  details.append(el("summary", {}, book ? `Runbook: ${book.title}` : "Runbook"));
  if (book) book.text.split(/\n\n+/).forEach((t) => details.append(paragraph(t.replace(/\n/g, " "))));
  const url = a.annotations.runbook_url || page.runbook_base + key;
  details.append(el("a", { href: url, rel: "noopener" }, "docs/monitoring.md"));
  li.append(details);
  return li;
}

let latest = null;

function held(alert, by) {
  return (alert.status[by] || []).length ? 1 : 0;
}

function render() {
  if (!latest) return;
  const { states, alerts, silences } = latest;
  const byName = Object.fromEntries(page.sites.map((s) => [s.name, s]));
  for (const g of document.querySelectorAll("#map g.site")) {
    const s = byName[g.dataset.site];
    const own = states[s.name];
    g.dataset.state = own.state;
    setState(g, own.state);
    setState(g.querySelector(".box"), own.state);
    g.classList.toggle("selected", selected === s.name);
    g.classList.toggle("child-critical", s.folded.some((c) => states[c].state === "critical"));
    const bad = s.folded.filter((c) => ["critical", "warning"].includes(states[c].state)).length;
    g.querySelector(".detail").textContent = `${own.up}/${own.targets} up` +
      (own.alerts.length ? ` · ${own.alerts.length} alerts` : "") + (s.folded.length ? ` · ${bad}/${s.folded.length} below` : "");
    for (const sq of g.querySelectorAll(".sq")) setState(sq, states[sq.dataset.site].state);
  }
  for (const line of document.querySelectorAll("#map line.edge")) {
    line.classList.toggle("down", states[line.dataset.child].reachable === 0);
  }
  // the panel: the selected site (and what is folded into it), or every site
  const shown = selected ? [selected, ...byName[selected].folded] : null;
  document.getElementById("panel-title").textContent = selected ? `${byName[selected].title}` : "Firing alerts";
  const list = document.getElementById("sites");
  list.replaceChildren(...(shown || []).map((n) => el("li", { class: states[n].state, "data-site": n },
    `${byName[n].title || n}: ${states[n].state}`)));
  const byFingerprint = Object.fromEntries(alerts.map((a) => [a.fingerprint, a]));
  const firing = alerts.filter((a) => PAGED.has(a.labels.severity) && (!shown || shown.includes(a.labels.site)))
    // as `egov monitor status` lists them: what pages first, then what is inhibited, silenced last
    .sort((x, y) => held(x, "silencedBy") - held(y, "silencedBy") || held(x, "inhibitedBy") - held(y, "inhibitedBy") ||
      SEVERITIES.indexOf(x.labels.severity) - SEVERITIES.indexOf(y.labels.severity) ||
      (x.labels.site || "").localeCompare(y.labels.site || "") || x.labels.alertname.localeCompare(y.labels.alertname));
  const items = firing.map((a) => alertItem(a, byFingerprint, silences));
  document.getElementById("alerts").replaceChildren(...(items.length ? items : [el("li", {}, "nothing fires")]));
  const counts = SEVERITIES.map((s) => [s, Object.values(states).filter((x) => x.state === s).length]);
  document.getElementById("summary").textContent = counts.filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(" · ");
}

async function refresh() {
  try {
    const [reach, count, up, wan, alerts, silences] = await Promise.all([
      query("site:reachable:max"), query("site:targets:count"), query("site:targets_up:sum"),
      query("site:wan_reachable:max"),
      getJSON(`${page.api.alertmanager}?active=true&silenced=true&inhibited=true&unprocessed=true`),
      getJSON(page.api.silences),
    ]);
    latest = { states: siteStates({ reach, count, up, wan }, alerts), alerts,
               silences: Object.fromEntries(silences.map((s) => [s.id, s])) };
    lastGood = new Date();
    document.body.classList.remove("stale");
    document.body.dataset.lastRead = lastGood.toISOString();
    document.getElementById("freshness").textContent = `live · read ${lastGood.toLocaleTimeString()}`;
    render();
    // the first picture with every site's state: marked right before the browser paints it
    if (!performance.getEntriesByName("egov-states").length) {
      requestAnimationFrame(() => performance.mark("egov-states"));
    }
  } catch (err) {
    // keep the last good picture, greyed, and say since when it is stale and why
    document.body.classList.add("stale");
    document.getElementById("freshness").textContent =
      `STALE${lastGood ? ` since ${lastGood.toLocaleTimeString()}` : ""}: ${err.message}`;
  } finally {
    setTimeout(refresh, page.refresh_seconds * 1000);
  }
}

// The runbooks of docs/monitoring.md (shipped as runbooks.md): each is an anchor, a "###" or "####"
// heading and the paragraphs up to the next heading. anchor -> {title, text}.
function parseRunbooks(markdown) {
  const books = {};
  let current = null;
  for (const line of markdown.split("\n")) {
    const anchor = line.match(/^<a id="([a-z0-9-]+)"><\/a>\s*$/);
    if (anchor) {
      current = { title: "", text: [] };
      books[anchor[1]] = current;
    } else if (current && /^#{3,4} /.test(line) && !current.title) {
      current.title = line.replace(/^#+ /, "").trim();
    } else if (current && line.startsWith("#")) {
      current = null;
    } else if (current) {
      current.text.push(line);
    }
  }
  for (const book of Object.values(books)) book.text = book.text.join("\n").trim();
  return books;
}

async function start() {
  page = await getJSON("page.json");
  page.runbooks = {};
  fetch("runbooks.md").then((r) => (r.ok ? r.text() : "")).then((md) => { page.runbooks = parseRunbooks(md); })
    .catch(() => {});  // the map and alerts do not wait for the runbooks, nor fail without them
  document.getElementById("title").textContent = `${page.province}: on-call`;
  document.title = `${page.province}: on-call`;
  drawMap();
  refresh();
}

start().catch((err) => {
  document.getElementById("summary").textContent = `page.json: ${err.message}`;
});
