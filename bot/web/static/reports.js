// The supervisor's reports: any period's figures per agent and for the shop, a chart per figure over
// the days (inline SVG, drawn here: no library, works offline), CSV/XLSX export, the monthly scorecard.
"use strict";
(function () {
  const $ = (sel) => document.querySelector(sel);
  const KEY = "csbot-board-token";  // the same tab-scoped token as the board
  const state = { timezone: "Asia/Shanghai", report: null };
  const CHARTS = [
    ["avg_response_s", "平均响应 avg response (s)", "s"],
    ["p90_response_s", "p90 响应 (s)", "s"],
    ["within_30s_rate", "30秒响应率 within 30 s", "%"],
    ["reply_rate", "回复率 reply rate", "%"],
    ["effective_reply_rate", "有效回复率 effective reply (● pending)", "%"],
    ["conversion_rate", "询单转化率 conversion", "%"],
    ["sales", "销售额 sales (¥)", "¥"],
  ];

  function token() {
    const m = location.hash.match(/token=([^&]+)/);
    if (m) {
      sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(KEY);
  }
  function askToken(reason) {
    sessionStorage.removeItem(KEY);
    $("#login-reason").textContent = reason;
    $("#login").hidden = false;
    $("#reports").hidden = true;
  }
  $("#login").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, $("#token").value.trim());
    start();
  });

  async function api(path, options = {}) {
    const resp = await fetch(path, { ...options, headers: { ...(options.headers || {}), ...csbotSession.headers(token()) } });
    if (resp.status === 401) { askToken("此令牌无效或已过期 — the token is unknown or expired"); throw new Error("401"); }
    if (resp.status === 403) { askToken("报表需要主管令牌 — the reports need a supervisor's token"); throw new Error("403"); }
    return resp;
  }

  // --- dates in shop time ------------------------------------------------------------------------
  // Today is the server's (its clock, the shop's time zone): every report answer says which day it is.
  function shopToday() {
    return state.today || new Intl.DateTimeFormat("en-CA", { timeZone: state.timezone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
  }
  function addDays(day, n) {
    const d = new Date(day + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  function preset(name) {
    const today = shopToday();
    const span = { today: [today, today], yesterday: [addDays(today, -1), addDays(today, -1)],
                   7: [addDays(today, -6), today], 30: [addDays(today, -29), today],
                   month: [today.slice(0, 8) + "01", today] }[name];
    $("#from").value = span[0];
    $("#to").value = span[1];
    load();
  }
  for (const b of document.querySelectorAll("[data-preset]")) b.addEventListener("click", () => preset(b.dataset.preset));
  $("#period").addEventListener("submit", (e) => { e.preventDefault(); load(); });

  // --- the report ----------------------------------------------------------------------------------
  // An empty day is left out (the API refuses `to=`; one day left out means the other).
  const query = (extra) => new URLSearchParams({ ...($("#from").value ? { from: $("#from").value } : {}),
    ...($("#from").value && $("#to").value ? { to: $("#to").value } : {}), ...extra }).toString();

  async function load() {
    $("#error").textContent = "";
    const resp = await api("/api/reports/agents?" + query({ by: "day" }));
    const body = await resp.json();
    if (!resp.ok) { $("#error").textContent = body.message || resp.statusText; return; }
    state.report = body;
    state.today = body.today;
    $("#from").value = body.from;
    $("#to").value = body.to;
    $("#label").textContent = `${body.from} – ${body.to} (${body.timezone})`;
    renderTable(body);
    renderSubjects(body);
    renderCharts();
    document.body.dataset.loaded = body.from + ".." + body.to;
  }

  const pct = (v) => (v == null ? "–" : (v * 100).toFixed(1) + "%");
  const sec = (v) => (v == null ? "–" : v.toFixed(1));
  const money = (v) => (v == null ? "–" : v.toFixed(2));
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  function renderTable(body) {
    const tbody = document.createElement("tbody");
    const rows = [...body.period.map((r) => ["agent", r]), ...body.totals.map((r) => ["shop", r])];
    for (const [kind, r] of rows) {
      const tr = document.createElement("tr");
      tr.className = kind;
      tr.dataset.agent = r.agent;
      tr.dataset.platform = r.platform;
      cell(tr, r.name);
      cell(tr, r.platform);
      cell(tr, r.consulting_buyers ?? "–", "num buyers");
      cell(tr, pct(r.reply_rate), "num reply");
      cell(tr, r.responses ?? "–", "num responses");
      cell(tr, sec(r.avg_response_s), "num avg");
      cell(tr, sec(r.p50_response_s), "num p50");
      cell(tr, sec(r.p90_response_s), "num p90");
      cell(tr, sec(r.first_response_avg_s), "num first");
      cell(tr, pct(r.within_30s_rate), "num fast");
      cell(tr, pct(r.effective_reply_rate) + (r.effective_reply_pending ? ` (${r.effective_reply_pending} pending)` : ""), "num effective");
      cell(tr, pct(r.conversion_rate), "num conversion");
      cell(tr, money(r.sales), "num sales");
      cell(tr, money(r.avg_order_value), "num aov");
      cell(tr, r.csat_responses ? `${pct(r.csat)} (${r.csat_responses})` : "–", "num csat");
      tbody.appendChild(tr);
    }
    $("#figures tbody").replaceWith(tbody);
  }

  function renderSubjects(body) {
    const select = $("#subject");
    const before = select.value;
    select.replaceChildren();
    for (const r of body.totals) select.add(new Option(`全店 shop · ${r.platform}`, `:${r.platform}`));
    for (const r of body.period) select.add(new Option(`${r.name} · ${r.platform}`, `${r.agent}:${r.platform}`));
    if ([...select.options].some((o) => o.value === before)) select.value = before;
  }
  $("#subject").addEventListener("change", renderCharts);

  function renderCharts() {
    const body = state.report;
    const box = $("#charts");
    box.replaceChildren();
    if (!body) return;
    const [agent, platform] = $("#subject").value.split(":");
    const rows = agent ? body.items.filter((r) => r.agent === agent && r.platform === platform)
                       : body.daily_totals.filter((r) => r.platform === platform);
    const byDay = new Map(rows.map((r) => [r.day, r]));
    const days = [];
    for (let d = body.from; d <= body.to; d = addDays(d, 1)) days.push(d);
    for (const [field, title, unit] of CHARTS) box.appendChild(chart(field, title, unit, days, byDay));
  }

  // One line per figure over the days; a day without a value is a gap.
  function chart(field, title, unit, days, byDay) {
    const NS = "http://www.w3.org/2000/svg";
    const W = 320, H = 150, L = 40, R = 8, T = 10, B = 22;
    const div = document.createElement("div");
    div.className = "chart";
    div.dataset.figure = field;
    const h3 = document.createElement("h3");
    h3.textContent = title;
    div.appendChild(h3);
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", title);
    const el = (name, attrs, text) => {
      const e = document.createElementNS(NS, name);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text != null) e.textContent = text;
      svg.appendChild(e);
      return e;
    };
    const values = days.map((d) => { const r = byDay.get(d); return r && r[field] != null ? r[field] : null; });
    const known = values.filter((v) => v != null);
    const top = unit === "%" ? 1 : Math.max(1, ...known) * 1.1;
    const x = (i) => L + (days.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (days.length - 1));
    const y = (v) => T + (H - T - B) * (1 - v / top);
    el("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B });
    el("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B });
    const fmt = (v) => (unit === "%" ? Math.round(v * 100) + "%" : unit === "¥" ? Math.round(v) : v.toFixed(0));
    el("text", { x: L - 4, y: T + 4, "text-anchor": "end" }, fmt(top));
    el("text", { x: L - 4, y: H - B, "text-anchor": "end" }, fmt(0));
    el("text", { x: L, y: H - 6 }, days[0].slice(5));
    if (days.length > 1) el("text", { x: W - R, y: H - 6, "text-anchor": "end" }, days[days.length - 1].slice(5));
    let path = "";
    values.forEach((v, i) => {
      if (v == null) { path += " "; return; }
      path += (path.endsWith(" ") || path === "" ? "M" : "L") + x(i).toFixed(1) + "," + y(v).toFixed(1);
    });
    if (known.length) el("path", { class: "line", d: path.trim().split(" ").filter(Boolean).join(" ") });
    values.forEach((v, i) => {
      if (v == null) return;
      const dot = el("circle", { class: "dot", cx: x(i), cy: y(v), r: 3 });
      const title = document.createElementNS(NS, "title");
      title.textContent = `${days[i]}: ${fmt(v)}`;
      dot.appendChild(title);
      dot.dataset.day = days[i];
      dot.dataset.value = String(v);
      const pending = field === "effective_reply_rate" && byDay.get(days[i]).effective_reply_pending;
      if (pending) el("text", { class: "pending", x: x(i), y: y(v) - 6, "text-anchor": "middle" }, `${pending}`);
    });
    if (!known.length) el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data 无数据");
    div.appendChild(svg);
    return div;
  }

  // --- export: fetched with the token header, saved as a file -----------------------------------------
  async function download(format) {
    const resp = await api("/api/reports/agents?" + query({ by: "period", format }));
    if (!resp.ok) { $("#error").textContent = (await resp.json()).message; return; }
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await resp.blob());
    a.download = `csbot-report-${$("#from").value}-${$("#to").value}.${format}`;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }
  $("#csv").addEventListener("click", () => download("csv"));
  $("#xlsx").addEventListener("click", () => download("xlsx"));

  // --- scorecard ---------------------------------------------------------------------------------------
  async function loadScorecard() {
    $("#scorecard-error").textContent = "";
    const resp = await api("/api/scorecard?month=" + encodeURIComponent($("#month").value));
    const body = await resp.json();
    if (!resp.ok) { $("#scorecard-error").textContent = body.message; return; }
    const tbody = document.createElement("tbody");
    for (const r of body.items) {
      const tr = document.createElement("tr");
      tr.dataset.agent = r.agent;
      if (r.flagged) tr.className = "flagged";
      cell(tr, r.name);
      cell(tr, r.score.toFixed(1), "num score");
      cell(tr, r.status + (r.flagged ? " · flagged 连续" : ""), "status-" + r.status);
      const td = document.createElement("td");
      const ul = document.createElement("ul");
      ul.className = "evidence";
      for (const d of r.deductions) {
        const li = document.createElement("li");
        li.textContent = `-${d.points} ${d.rule}: `;
        for (const ev of d.evidence) {
          const span = document.createElement(ev.url ? "a" : "span");
          if (ev.url) span.href = ev.url;
          span.textContent = ev.label + " ";
          li.appendChild(span);
        }
        ul.appendChild(li);
      }
      td.appendChild(ul);
      tr.appendChild(td);
      cell(tr, money(r.sales), "num sales");
      cell(tr, money(r.commission), "num commission");
      tbody.appendChild(tr);
    }
    $("#scorecard tbody").replaceWith(tbody);
    const select = $("#deduct-agent");
    if (!select.options.length) for (const r of body.items) select.add(new Option(r.name, r.agent));
  }
  $("#show-scorecard").addEventListener("click", loadScorecard);
  $("#deduct").addEventListener("submit", async (e) => {
    e.preventDefault();
    const resp = await api("/api/scorecard/deductions", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ agent: $("#deduct-agent").value, month: $("#month").value,
                             points: Number($("#deduct-points").value), reason: $("#deduct-reason").value }),
    });
    if (!resp.ok) { $("#scorecard-error").textContent = (await resp.json()).message; return; }
    $("#deduct-reason").value = "";
    loadScorecard();
  });

  async function start() {
    if (!token() && !(await csbotSession.me())) { askToken(""); return; }  // no token and no login session
    let me;
    try { me = await (await api("/api/me")).json(); } catch (e) { return; }
    if (me.role === "agent") { askToken("报表需要主管令牌 — the reports need a supervisor's token"); return; }
    state.timezone = me.timezone || state.timezone;
    $("#zone").textContent = "shop time 店铺时间: " + state.timezone;
    $("#login").hidden = true;
    $("#reports").hidden = false;
    const params = new URLSearchParams(location.search);
    if (params.get("from")) {
      $("#from").value = params.get("from");
      $("#to").value = params.get("to") || params.get("from");
    }
    await load();  // without a period: today's
    $("#month").value = params.get("month") || shopToday().slice(0, 7);
  }
  start();
})();
