/* kcr admin dashboard: vanilla JavaScript, no framework, nothing loaded
 * from anywhere but kcr serve itself (the page's Content-Security-Policy
 * forbids it anyway).
 *
 * The admin key lives in one variable of this closure and nowhere else:
 * not in localStorage, sessionStorage, a cookie or the URL. Reloading the
 * page forgets it. Every URL is relative to the page (/dashboard, or
 * /<base_path>/dashboard), so "admin/pool" is the admin API of the same
 * server under the same base path.
 *
 * Stable hooks for tests and scripts: body[data-state] is "login",
 * "loading" or "ready"; body[data-refreshes] counts the refreshes that
 * succeeded; rows carry data-lang / data-key-id; the chart's SVG carries
 * data-total and data-total-<lang>, and each bar data-lang, data-minute
 * and data-count. */
"use strict";

(function () {
  let adminKey = null; /* in memory only */
  let timer = null;
  let generation = 0; /* a refresh of an earlier login is dropped */
  let refreshes = 0;

  const PALETTE = ["#2f6fde", "#e8871e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22", "#7f7f7f", "#1f3b73", "#d62728", "#637939", "#ad494a"];
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);

  class AuthError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /* ---- the admin API -------------------------------------------------- */

  async function api(path, options = {}) {
    const headers = { "X-API-Key": adminKey || "" };
    const res = await fetch(path, {
      method: options.method || "GET",
      headers: headers,
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (res.status === 401 || res.status === 403)
      throw new AuthError(res.status, (body && body.error) || res.statusText);
    /* /health/detailed says 503 with its body when a check fails */
    if (!res.ok && !(options.okStatuses || []).includes(res.status))
      throw new Error(path + ": HTTP " + res.status + ((body && body.error) ? ": " + body.error : ""));
    return body;
  }

  /* ---- small DOM helpers ---------------------------------------------- */

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null)
      e.textContent = String(text);
    if (cls)
      e.className = cls;
    return e;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells)
      tr.appendChild(c instanceof Node ? c : el("td", c));
    return tr;
  }

  function fillBody(tableId, rows, emptyId) {
    const tbody = $(tableId).tBodies[0];
    tbody.replaceChildren(...rows);
    if (emptyId)
      $(emptyId).hidden = rows.length > 0;
  }

  function ms(v) {
    if (v === undefined || v === null)
      return "–";
    if (v >= 10000)
      return (v / 1000).toFixed(1) + " s";
    return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + " ms";
  }

  function color(lang, langs) {
    const i = langs.indexOf(lang);
    return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs))
      e.setAttribute(k, String(v));
    if (text !== undefined)
      e.textContent = text;
    return e;
  }

  /* ---- panels ----------------------------------------------------------- */

  function renderHealth(h) {
    const box = $("health");
    box.dataset.status = h.status || "";
    const items = [el("span", h.status, "badge " + (h.status === "healthy" ? "ok" : "bad"))];
    items.push(el("span", "kcr " + (h.version || ""), "muted"));
    const list = el("ul", null, "checks");
    for (const [name, c] of Object.entries(h.checks || {})) {
      if (!c || typeof c.status !== "string")
        continue; /* the pool statistics ride along here; they have a panel */
      const li = el("li", null, c.status === "healthy" ? "ok" : "bad");
      li.dataset.check = name;
      li.textContent = name + " (" + (c.backend || "?") + "): " + c.status + ", " +
        ms(c.latency_ms) + (c.error ? " — " + c.error : "");
      list.appendChild(li);
    }
    items.push(list);
    box.replaceChildren(...items);
  }

  /* The pools in use: a target, sandboxes, or acquisitions; the idle rest
   * (a target of 0 and never asked for) only counted. */
  function renderPools(p) {
    const all = p.pools || [];
    const used = all.filter((x) => x.target || x.ready || x.creating || x.in_use || x.hits || x.misses);
    const idle = all.length - used.length;
    $("pools-idle").hidden = !(p.enabled && idle);
    $("pools-idle").textContent = idle + " other languages have no pool and no executions.";
    $("pools-empty").hidden = !!p.enabled;
    const rows = used.map((x) => {
      const tr = row([x.language, x.ready, x.target, x.in_use, x.hits, x.misses,
        ms(x.miss_wait_ms_avg)]);
      tr.dataset.lang = x.language;
      tr.dataset.ready = x.ready;
      tr.dataset.target = x.target;
      tr.dataset.hits = x.hits;
      tr.dataset.misses = x.misses;
      return tr;
    });
    fillBody("pools-table", rows);
  }

  /* Stacked bars, one per minute, a colour per language; a red mark over
   * a minute with failed executions. */
  function renderChart(a) {
    const chart = $("exec-chart");
    const W = 960, H = 200, left = 44, right = 8, top = 10, bottom = 30;
    const n = a.minutes || 60;
    const langs = Object.keys(a.executions || {}).sort();
    const totals = new Array(n).fill(0);
    for (const l of langs)
      a.executions[l].forEach((v, i) => { totals[i] += v; });
    const max = Math.max(1, ...totals);
    const plotW = W - left - right, plotH = H - top - bottom, bw = plotW / n;
    const nodes = [];

    for (const f of [0, 0.5, 1]) { /* gridlines and their counts */
      const y = top + plotH * (1 - f);
      nodes.push(svg("line", { x1: left, x2: W - right, y1: y, y2: y, class: "grid" }));
      nodes.push(svg("text", { x: left - 6, y: y + 4, class: "axis", "text-anchor": "end" },
        String(Math.round(max * f * 10) / 10)));
    }
    const base = new Array(n).fill(0);
    for (const l of langs) {
      const series = a.executions[l];
      for (let i = 0; i < n; i++) {
        if (!series[i])
          continue;
        const h = plotH * series[i] / max;
        const y = top + plotH - plotH * base[i] / max - h;
        const r = svg("rect", { x: left + i * bw + 1, y: y, width: Math.max(1, bw - 2),
          height: h, fill: color(l, langs), "data-lang": l, "data-minute": i,
          "data-count": series[i] });
        r.appendChild(svg("title", {}, l + ": " + series[i] + " at " +
          new Date((a.minute_start + 60 * i) * 1000).toLocaleTimeString()));
        nodes.push(r);
        base[i] += series[i];
      }
    }
    for (let i = 0; i < n; i++) {
      const errs = langs.reduce((s, l) => s + ((a.errors[l] || [])[i] || 0), 0);
      if (errs)
        nodes.push(svg("circle", { cx: left + (i + 0.5) * bw, cy: top + plotH * (1 - totals[i] / max) - 5,
          r: 3, class: "err-mark", "data-minute": i, "data-errors": errs }));
    }
    for (const [i, label] of [[0, "−60 min"], [30, "−30 min"], [n - 1, "now"]])
      nodes.push(svg("text", { x: left + (i + 0.5) * bw, y: H - 10, class: "axis",
        "text-anchor": i === 0 ? "start" : i === n - 1 ? "end" : "middle" }, label));
    chart.replaceChildren(...nodes);
    chart.setAttribute("data-total", totals.reduce((s, v) => s + v, 0));
    for (const name of chart.getAttributeNames())
      if (name.startsWith("data-total-"))
        chart.removeAttribute(name);
    for (const l of langs)
      chart.setAttribute("data-total-" + l, a.executions[l].reduce((s, v) => s + v, 0));

    const legend = langs.map((l) => {
      const li = el("li", l);
      const sw = el("span", null, "swatch");
      sw.style.backgroundColor = color(l, langs); /* CSSOM: allowed by style-src 'self' */
      li.prepend(sw);
      li.dataset.lang = l;
      return li;
    });
    if (!langs.length)
      legend.push(el("li", "no executions in the last hour", "muted"));
    $("chart-legend").replaceChildren(...legend);
  }

  function renderLatency(a) {
    const lat = a.latency || {};
    $("latency-window").textContent = "(last " + (lat.window_minutes || "?") + " min)";
    const entries = Object.entries(lat.languages || {}).sort();
    if (lat.overall && lat.overall.count)
      entries.push(["all", lat.overall]);
    const rows = entries.map(([l, x]) => {
      const tr = row([l, x.count, ms(x.p50_ms), ms(x.p95_ms), ms(x.p99_ms), ms(x.max_ms)]);
      tr.dataset.lang = l;
      tr.dataset.count = x.count;
      tr.dataset.p50 = x.p50_ms;
      tr.dataset.p99 = x.p99_ms;
      if (l === "all")
        tr.className = "total";
      return tr;
    });
    fillBody("latency-table", rows);
  }

  function limitsText(k) {
    const rl = k.rate_limits || {};
    const parts = [["per_second", "/s"], ["per_minute", "/min"], ["per_hour", "/h"],
      ["per_day", "/day"]].filter(([f]) => rl[f]).map(([f, u]) => rl[f] + u);
    if (k.max_concurrent)
      parts.push(k.max_concurrent + " at once");
    return parts.length ? parts.join(", ") : "server defaults";
  }

  function renderKeys(keys, usage) {
    const byId = new Map((usage.keys || []).map((u) => [u.id, u]));
    const rows = (keys.keys || []).map((k) => {
      const total = (byId.get(k.id) || {}).total || {};
      const btn = el("button", "Revoke", "revoke");
      btn.type = "button";
      btn.dataset.keyId = k.id;
      btn.addEventListener("click", () => revoke(k, btn));
      const act = el("td");
      act.appendChild(btn);
      const tr = row([k.name || "(unnamed)", el("td", k.id.slice(0, 12) + "…", "mono"),
        el("td", k.status, k.status === "active" ? "ok" : "bad"), limitsText(k),
        total.executions || 0, total.errors || 0, ms(total.run_ms || 0), ms(total.cpu_ms || 0), act]);
      tr.dataset.keyId = k.id;
      tr.dataset.name = k.name || "";
      tr.dataset.enabled = k.enabled;
      tr.dataset.executions = total.executions || 0;
      return tr;
    });
    fillBody("keys-table", rows, "keys-empty");
  }

  function renderErrors(a) {
    const rows = (a.recent_errors || []).map((e) => {
      const who = e.admin ? "admin key" : e.key_name || (e.key_id ? e.key_id.slice(0, 12) + "…" : "–");
      const tr = row([new Date(e.ts * 1000).toLocaleTimeString(), e.status,
        e.method + " " + e.route, e.error_type, e.message, who]);
      tr.dataset.status = e.status;
      tr.dataset.route = e.route;
      return tr;
    });
    fillBody("errors-table", rows, "errors-empty");
  }

  /* ---- refresh, login, logout -------------------------------------------- */

  async function refresh() {
    const gen = generation;
    const [health, pools, activity, keys, usage] = await Promise.all([
      api("health/detailed", { okStatuses: [503] }),
      api("admin/pool"),
      api("admin/activity"),
      api("admin/keys"),
      api("admin/usage"),
    ]);
    if (gen !== generation)
      return;
    renderHealth(health);
    renderPools(pools);
    renderChart(activity);
    renderLatency(activity);
    renderKeys(keys, usage);
    renderErrors(activity);
    refreshes++;
    document.body.dataset.refreshes = String(refreshes);
    setStatus("updated " + new Date().toLocaleTimeString());
  }

  function setStatus(text, isError) {
    const s = $("status");
    s.textContent = text;
    s.classList.toggle("error", !!isError);
  }

  function schedule() {
    clearTimeout(timer);
    const every = Number($("refresh-select").value);
    if (!adminKey || !every)
      return;
    timer = setTimeout(tick, every * 1000);
  }

  async function tick() {
    try {
      await refresh();
    } catch (e) {
      if (e instanceof AuthError)
        return logout(authMessage(e));
      setStatus("refresh failed: " + e.message, true);
    }
    schedule();
  }

  function authMessage(e) {
    return e.status === 403
      ? "That key is not the admin key (403): " + e.message
      : "The server refused the key (401): " + e.message;
  }

  function showLogin(message) {
    document.body.dataset.state = "login";
    $("panels").hidden = true;
    $("toolbar").hidden = true;
    $("login-panel").hidden = false;
    $("login-error").hidden = !message;
    $("login-error").textContent = message || "";
    $("key-input").focus();
  }

  function logout(message) {
    adminKey = null;
    generation++;
    clearTimeout(timer);
    refreshes = 0;
    delete document.body.dataset.refreshes;
    $("notice").textContent = "";
    for (const id of ["pools-table", "latency-table", "keys-table", "errors-table"])
      fillBody(id, []);
    $("exec-chart").replaceChildren();
    showLogin(message);
  }

  async function login(ev) {
    ev.preventDefault();
    const input = $("key-input");
    adminKey = input.value.trim();
    input.value = "";
    generation++;
    document.body.dataset.state = "loading";
    $("login-error").hidden = true;
    try {
      /* one request tries the key: a wrong one costs one failed
       * authentication (server.auth_fail_limit), not one per panel */
      await api("admin/activity");
      await refresh();
    } catch (e) {
      return logout(e instanceof AuthError ? authMessage(e) : "Cannot reach the server: " + e.message);
    }
    document.body.dataset.state = "ready";
    $("login-panel").hidden = true;
    $("panels").hidden = false;
    $("toolbar").hidden = false;
    schedule();
  }

  async function revoke(k, btn) {
    if (!window.confirm("Revoke the key \"" + (k.name || k.id) + "\"? Clients using it get 401 at once."))
      return;
    btn.disabled = true;
    try {
      await api("admin/keys/" + encodeURIComponent(k.id), { method: "DELETE" });
      $("notice").textContent = "revoked " + (k.name || k.id.slice(0, 12));
      await refresh();
    } catch (e) {
      if (e instanceof AuthError)
        return logout(authMessage(e));
      btn.disabled = false;
      setStatus("revoke failed: " + e.message, true);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", () => logout(""));
    $("refresh-select").addEventListener("change", schedule);
    $("refresh-now").addEventListener("click", tick);
    showLogin("");
  });
})();
