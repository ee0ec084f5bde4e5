"use strict";
// Served from the page's own origin (the CSP allows no inline script). Every API request carries
// the per-auditor CSRF token from the page; the server also checks Host, Origin and Fetch Metadata.
// The words come from the server in the page's language (a JSON script element, not code);
// "%(name)s" placeholders are filled here, a count picks [one, other].
const TOKEN = document.querySelector('meta[name="csrf-token"]').content;
const LANG = document.documentElement.lang;
const S = JSON.parse(document.getElementById("strings").textContent);
const tr = (key, params = {}) => S[key].replace(/%\((\w+)\)s/g, (_, name) => String(params[name] ?? ""));
const count = (key, n) => S[key][n === 1 ? 0 : 1].replace("%(n)s", new Intl.NumberFormat(LANG).format(n));
const api = (path, init = {}) =>
  fetch(path + (path.includes("?") ? "&" : "?") + "lang=" + LANG,
    {...init, credentials: "same-origin", headers: {...(init.headers || {}), "X-CSRF-Token": TOKEN}});
const tamperedNote = (list) => el("p", {class: "bad tampered"},
  tr("tampered", {count: count("rows", list.length), where: list.join("; ")}));
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
};
// a field by its label, its path beside it for those who want it ("show field paths")
const fieldList = (fields) => el("span", {}, ...(fields || []).flatMap((f, i) => [
  ...(i ? [", "] : []), el("span", {title: f.path}, f.label), el("span", {class: "path"}, ` (${f.path})`)]));
// a long list folded: how many, and the parts of the notice they come from; opened, by part
const fieldGroups = (groups) => {
  const n = (groups || []).reduce((t, g) => t + g.fields.length, 0);
  if (!n) return "-";
  return el("details", {class: "fields"},
    el("summary", {}, `${count("field_count", n)}: ${groups.map(g => g.label).join(", ")}`),
    el("dl", {}, ...groups.flatMap(g => [el("dt", {title: g.path}, g.label), el("dd", {}, fieldList(g.fields))])));
};
const table = (head, rows) => el("table", {},
  el("thead", {}, el("tr", {}, ...head.map(h => el("th", {}, h)))),
  el("tbody", {}, ...rows.map(r => el("tr", {}, ...r.map(c => c instanceof Node ? el("td", {}, c) : el("td", {}, c))))));

async function status() {
  const box = document.getElementById("status-body");
  const s = await (await api("/api/status")).json();
  box.className = "";
  const head = s.ok
    ? el("p", {class: "ok", id: "chain-ok"}, tr(s.writers_checked ? "verified_signed" : "verified", s))
    : el("p", {class: "bad", id: "chain-bad"}, tr("broken", s.fault));
  box.replaceChildren(head);
  if (!s.ok) box.append(el("p", {}, s.fault.detail));
  if (s.latest) box.append(table([tr("latest"), ""], [
    [tr("tree_size"), s.latest.tree_size], [tr("root_hash"), el("code", {}, s.latest.root_hash)],
    [tr("signed_at"), s.latest_time], [tr("key_id"), el("code", {}, s.latest.key_id)],
    [tr("checkpoints"), `${s.checkpoints} / ${s.witnessed}`],
    [tr("unsealed"), s.unsealed],
    [tr("unattributed"), s.unattributed]]));
}

async function search(ev) {
  if (ev) ev.preventDefault();
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(document.getElementById("search-form"))) if (v) params.set(k, v);
  const box = document.getElementById("search-body");
  const r = await api("/api/query?" + params);
  const data = await r.json();
  if (!r.ok) { box.replaceChildren(el("p", {class: "bad"}, `${data.field}: ${data.reason}`)); return; }
  box.replaceChildren(el("p", {class: "muted", id: "result-count"}, count("records", data.records.length)),
    table([tr("recorded"), tr("notice"), tr("recipient"), tr("organisation"), tr("decision"), tr("rule"), tr("legal_basis"), tr("fields"), tr("record_id")],
      data.records.map(x => [el("span", {title: x.recorded_at ?? ""}, x.shown.recorded), x.shown.notice,
        el("span", {title: x.recipient ?? ""}, x.shown.recipient),
        el("span", {title: x.organisation ?? ""}, x.shown.organisation || "-"),
        el("span", {class: x.decision, title: x.decision ?? ""}, x.shown.decision + (x.review_required ? " " + tr("review_required") : "")),
        x.rule_id ?? "-", el("span", {title: x.shown.purpose || x.legal_basis || ""}, x.shown.law || "-"), fieldGroups(x.shown.groups),
        el("code", {}, (x.record_id ?? "").slice(0, 12))])));
  box.querySelector("table").id = "results";
  if (data.tampered && data.tampered.length) box.prepend(tamperedNote(data.tampered));
}

async function subject(ev) {
  ev.preventDefault();
  const input = document.getElementById("national-id");
  const box = document.getElementById("subject-body");
  const r = await api("/api/subject", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({national_id: input.value})});
  const data = await r.json();
  input.value = "";
  if (!r.ok) { box.replaceChildren(el("p", {class: "bad"}, `${data.field}: ${data.reason}`)); return; }
  box.className = "";
  box.replaceChildren(
    el("p", {id: "subject-summary"}, data.summary.counts),
    table([tr("when"), tr("to_whom"), tr("notice"), tr("legal_basis"), tr("fields")], data.shown.map(d =>
      [d.when, d.recipient, d.notice,
        el("span", {}, `${d.law} (${d.basis})${d.urgent ? " — " + d.urgent : ""}`, ...(d.purpose ? [el("br"), el("small", {class: "purpose"}, d.purpose)] : [])),
        fieldGroups(d.groups)])));
  box.querySelector("table").id = "subject-table";
  if (data.tampered && data.tampered.length) box.prepend(tamperedNote(data.tampered));
}

// a style attribute would need 'unsafe-inline'; the CSSOM property does not
const swatch = (colour) => { const i = el("i"); i.style.background = colour; return i; };
const COLOURS = ["#0b3d66", "#2e8b57", "#d98e04", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#2c3e50"];
async function chart() {
  const box = document.getElementById("chart-body");
  const {series} = await (await api("/api/chart")).json();
  if (!series.length) { box.textContent = tr("no_disclosures"); return; }
  const days = [...new Set(series.map(s => s.day))];
  const keys = [...new Set(series.map(s => `${s.recipient_name} · ${s.legal_basis}`))];
  const count = new Map(series.map(s => [`${s.day}|${s.recipient_name} · ${s.legal_basis}`, s.count]));
  const totals = days.map(d => keys.reduce((t, k) => t + (count.get(`${d}|${k}`) || 0), 0));
  const max = Math.max(...totals), W = 800, H = 220, pad = 30, bw = Math.min(60, Math.max(8, (W - pad) / days.length - 6));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H + 30}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", tr("chart_label"));
  days.forEach((d, i) => {
    let y = H;
    keys.forEach((k, j) => {
      const n = count.get(`${d}|${k}`) || 0;
      if (!n) return;
      const h = (n / max) * (H - 10);
      y -= h;
      const r = document.createElementNS(ns, "rect");
      Object.entries({x: pad + i * (bw + 6), y, width: bw, height: h, fill: COLOURS[j % COLOURS.length], class: "bar"})
        .forEach(([a, v]) => r.setAttribute(a, v));
      const t = document.createElementNS(ns, "title");
      t.textContent = `${d}: ${k}: ${n}`;
      r.append(t);
      svg.append(r);
    });
    const label = document.createElementNS(ns, "text");
    Object.entries({x: pad + i * (bw + 6), y: H + 16, "font-size": 11}).forEach(([a, v]) => label.setAttribute(a, v));
    label.textContent = d;
    svg.append(label);
  });
  const legend = el("div", {class: "legend"}, ...keys.map((k, j) => el("span", {}, swatch(COLOURS[j % COLOURS.length]), k)));
  box.className = "";
  box.replaceChildren(svg, legend);
}

document.getElementById("language").addEventListener("change", (ev) => {
  const url = new URL(location.href);
  url.searchParams.set("lang", ev.target.value);
  location.assign(url);
});
document.getElementById("show-paths").addEventListener("change", (ev) => {
  document.body.classList.toggle("paths", ev.target.checked);
});
document.getElementById("search-form").addEventListener("submit", search);
document.getElementById("subject-form").addEventListener("submit", subject);
status(); search(); chart();
