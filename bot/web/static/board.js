// The supervisor's live board: one EventSource on /api/board/stream; a snapshot, then changes.
// Waits count up here, from the server's clock (offset measured on each message); no build step.
"use strict";
(function () {
  const $ = (sel) => document.querySelector(sel);
  const state = { thresholds: [30, 60, 100], agents: new Map(), waiting: new Map(), handovers: [], roster: [],
                  shop: null, offsetMs: 0, connections: 0, day: null, timezone: "Asia/Shanghai",
                  status: new Map() };  // agent id → GET /api/agents's row (status 在线/忙碌/挂起/离线, name)
  let source = null, watchdog = null, retryTimer = null, renderQueued = false;

  // --- token -------------------------------------------------------------------------------
  function token() {
    const m = location.hash.match(/token=([^&]+)/);
    if (m) {
      sessionStorage.setItem("csbot-board-token", decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname);  // keep it out of the address bar
    }
    return sessionStorage.getItem("csbot-board-token");
  }
  $("#login").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("csbot-board-token", $("#token").value.trim());
    $("#login").hidden = true;
    connect();
  });

  // --- connection --------------------------------------------------------------------------
  function setStatus(kind, text) {
    const el = $("#status");
    el.className = "status " + (kind === "live" ? "live" : "off");
    el.dataset.state = kind;
    el.dataset.connections = String(state.connections);
    el.textContent = text;
  }

  // A refused token shows the login form with the reason (EventSource cannot tell 401 from a dropped line).
  function askToken(reason) {
    if (source) { source.close(); source = null; }
    clearTimeout(watchdog);
    sessionStorage.removeItem("csbot-board-token");
    $("#login-reason").textContent = reason;
    $("#login").hidden = false;
    setStatus("login", "token needed");
  }

  async function checkToken(t) {
    try {
      const resp = await fetch("/api/me", { headers: { Authorization: "Bearer " + t } });
      if (resp.status === 401) { askToken("此令牌无效或已过期 — the token is unknown or expired"); return false; }
      if (resp.ok && (await resp.json()).role === "agent") {
        askToken("这是客服令牌，看板需要主管令牌 — this is an agent's token; the board needs a supervisor's");
        return false;
      }
    } catch (e) { /* the server is unreachable: keep retrying the stream */ }
    return true;
  }

  async function connect() {
    clearTimeout(retryTimer);
    const t = token();
    if (!t) {  // no pasted token: the login session, if there is one
      const me = await csbotSession.me();
      if (!me) { askToken(""); return; }
      if (me.role === "agent") { askToken("看板需要主管账号 — the board needs a supervisor's login"); return; }
    } else if (!(await checkToken(t))) return;
    if (source) source.close();
    // A new EventSource cannot send Last-Event-ID: where the board was goes in the URL, so that the
    // server (any process) sends what changed since, not everything again.
    const since = state.lastEventId ? "&last_event_id=" + encodeURIComponent(state.lastEventId) : "";
    source = new EventSource("/api/board/stream?" + (t ? "token=" + encodeURIComponent(t) : "") + since);
    source.onopen = () => { state.connections += 1; setStatus("live", "live"); alive(); };
    source.onerror = () => {
      setStatus("reconnecting", "reconnecting…");
      // EventSource retries by itself after a dropped stream; after a refused one it gives up, so we retry.
      if (source && source.readyState === EventSource.CLOSED) retryTimer = setTimeout(connect, 2000);
    };
    source.addEventListener("snapshot", (e) => { alive(); seen(e); snapshot(JSON.parse(e.data)); });
    source.addEventListener("update", (e) => { alive(); seen(e); update(JSON.parse(e.data)); });
    source.addEventListener("ping", (e) => { alive(); clock(JSON.parse(e.data).now); });
    source.addEventListener("escalation", (e) => { alive(); escalated(JSON.parse(e.data).tickets); });
  }

  function seen(e) { if (e.lastEventId) state.lastEventId = e.lastEventId; }

  // Processing behind: the figures are this old (延迟 N 秒).
  function lag(data) {
    if (data.lag_s === undefined) return;
    const el = $("#lag");
    el.hidden = !(data.lag_s > (data.stale_after_s || state.staleAfter || 5));
    if (data.stale_after_s) state.staleAfter = data.stale_after_s;
    el.textContent = "延迟 " + Math.round(data.lag_s) + " 秒";
  }

  function alive() {
    // No message (not even the 15-second ping) for 40 s: the line is dead though nobody said so.
    clearTimeout(watchdog);
    watchdog = setTimeout(() => { setStatus("reconnecting", "reconnecting…"); connect(); }, 40000);
  }

  // Tickets that just went past their SLA: a banner until dismissed (text only, never HTML).
  function escalated(tickets) {
    const box = document.getElementById("escalations");
    for (const t of tickets) {
      const line = document.createElement("li");
      line.textContent = `工单 #${t.ticket_id} ${t.severity} ${t.owner || "未分配"} 超时：${t.breached.join("、")}`;
      line.addEventListener("click", () => line.remove());
      box.prepend(line);
    }
  }

  function clock(now) { if (now) state.offsetMs = Date.parse(now) - Date.now(); }

  // --- state -------------------------------------------------------------------------------
  const agentKey = (r) => r.agent + "|" + r.platform;

  function snapshot(s) {
    clock(s.now);
    lag(s);
    state.day = s.day;
    if (s.timezone) state.timezone = s.timezone;
    state.thresholds = s.thresholds_s;
    state.agents = new Map(s.agents.map((r) => [agentKey(r), r]));
    state.waiting = new Map(s.waiting.map((r) => [r.conversation_id, r]));
    state.handovers = s.handovers;
    state.roster = s.roster;
    state.shop = s.shop;
    render();
    loadTickets();
    loadStatuses();
    loadSendFailures();
  }

  function update(u) {
    clock(u.now);
    lag(u);
    for (const r of u.agents || []) state.agents.set(agentKey(r), r);
    for (const k of u.agents_removed || []) state.agents.delete(k[0] + "|" + k[1]);
    for (const r of u.waiting_upsert || []) state.waiting.set(r.conversation_id, r);
    for (const id of u.waiting_remove || []) state.waiting.delete(id);
    if (u.handovers) state.handovers = u.handovers;
    if (u.roster) state.roster = u.roster;
    if (u.shop) state.shop = u.shop;
    if (!renderQueued) { renderQueued = true; requestAnimationFrame(() => { renderQueued = false; render(); }); }
  }

  // --- rendering ---------------------------------------------------------------------------
  function tier(seconds) {
    if (seconds == null) return "";
    const [a, b, c] = state.thresholds;
    return seconds < a ? "t0" : seconds < b ? "t1" : seconds < c ? "t2" : "t3";
  }
  const fmtS = (v) => (v == null ? "–" : v.toFixed(v >= 100 ? 0 : 1));
  const pct = (v) => (v == null ? "–" : (v * 100).toFixed(0) + "%");
  const money = (v) => (v == null ? "–" : v.toFixed(2));
  function waitText(s) {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(sec).padStart(2, "0");
  }
  function cell(tr, text, cls, title) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    if (title) td.title = title;
    tr.appendChild(td);
    return td;
  }
  const nameOf = (id) => (state.roster.find((r) => r.id === id) || {}).name || id || "—";

  function render() {
    document.querySelectorAll(".th0").forEach((e) => (e.textContent = state.thresholds[0]));
    document.querySelectorAll(".th1").forEach((e) => (e.textContent = state.thresholds[1]));
    document.querySelectorAll(".th2").forEach((e) => (e.textContent = state.thresholds[2]));
    $("#day").textContent = state.day ? "today 今日 " + state.day : "";
    renderKpis();
    renderWaiting();
    renderAgents();
    renderHandovers();
    renderChart();
    tick();
  }

  function renderDailyFailures(failures) {
    const ul = $("#daily-failures");
    ul.replaceChildren();
    for (const f of failures || []) {
      const li = document.createElement("li");
      li.dataset.channel = f.channel;
      li.textContent = `日报 daily report ${f.day} → ${f.channel}: ${f.state === "failed" ? "FAILED 发送失败" : "retrying 重试中"}`
        + ` after ${f.attempts} attempt(s): ${f.last_error}`;
      ul.appendChild(li);
    }
  }

  // --- a waiting buyer's chat, opened from the board; the supervisor's reply goes out as 主管 ---------------
  let chatId = null, chatVersion = 0;
  async function authed(path, options = {}) {
    const t = sessionStorage.getItem("csbot-board-token");
    return fetch(path, { ...options, headers: { ...(options.headers || {}), ...csbotSession.headers(t) } });
  }
  async function openChat(id) {
    chatId = id;
    $("#chat").hidden = false;
    $("#chat-status").textContent = "";
    const resp = await authed(`/api/conversations/${id}`);
    if (!resp.ok) { $("#chat-status").textContent = `cannot open: ${resp.status}`; return; }
    const c = await resp.json();
    $("#chat").dataset.conversation = String(id);
    chatVersion = c.version || 0;
    const holder = (state.waiting.get(id) || {}).agent;
    $("#chat-title").textContent = `${c.buyer} · ${c.platform} · ${holder ? nameOf(holder) : c.agent}`;
    fillTransfer(holder);
    const list = $("#chat-messages");
    list.replaceChildren();
    for (const m of c.messages) {
      const li = document.createElement("li");
      li.className = m.sender;
      const time = document.createElement("time");
      time.textContent = `${m.sender === "buyer" ? "买家" : m.agent || "机器人"} ` +
        new Date(m.sent_at).toLocaleString("zh-CN", { timeZone: state.timezone });
      li.append(time, document.createTextNode(m.text));
      list.appendChild(li);
    }
    list.scrollTop = list.scrollHeight;
  }
  $("#chat-close").addEventListener("click", () => { $("#chat").hidden = true; chatId = null; });

  // --- 转给…: the opened buyer transferred to a chosen agent (POST /api/conversations/{id}/transfer) ----------
  function fillTransfer(holder) {
    const select = $("#chat-transfer-to");
    const chosen = select.value;
    select.replaceChildren();
    for (const a of state.roster) {
      const s = state.status.get(a.id);
      const option = new Option(`${a.name || a.id} · ${s ? s.status_name : "–"}${a.id === holder ? " (当前)" : ""}`, a.id);
      option.dataset.status = s ? s.status : "";
      option.disabled = a.id === holder;
      select.add(option);
    }
    if (chosen && chosen !== holder && [...select.options].some((o) => o.value === chosen)) select.value = chosen;
    else { const free = [...select.options].find((o) => !o.disabled); if (free) select.value = free.value; }
  }
  $("#chat-transfer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const to = $("#chat-transfer-to").value, id = chatId;
    if (!to || id == null) return;
    const resp = await authed(`/api/conversations/${id}/transfer`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ to, note: $("#chat-transfer-note").value.trim(), version: chatVersion }) });
    const body = await resp.json();
    if (resp.ok) {
      $("#chat-transfer-note").value = "";
      $("#chat-transfer-status").textContent = `已转给 ${body.to_name}`;
      chatVersion = body.version;
      $("#chat-title").textContent = `${body.buyer} · ${nameOf(body.to)}`;
      fillTransfer(body.to);
      loadStatuses();  // their load changes
    } else $("#chat-transfer-status").textContent = body.message || String(resp.status);
  });

  // --- each agent's status (bot/store/agent_status.py through GET /api/agents), polled: any process answers ---
  const STATUS_POLL_MS = 5000;
  async function loadStatuses() {
    let resp;
    try { resp = await authed("/api/agents?limit=1000"); } catch (e) { return; }
    if (!resp.ok) return;
    state.status = new Map((await resp.json()).items.map((a) => [a.id, a]));
    renderAgents();
    if (chatId != null && document.activeElement !== $("#chat-transfer-to")) fillTransfer((state.waiting.get(chatId) || {}).agent);
  }
  setInterval(() => { if (source) loadStatuses(); }, STATUS_POLL_MS);
  $("#chat-reply").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("#chat-text").value.trim();
    if (!text || chatId == null) return;
    const resp = await authed(`/api/conversations/${chatId}/reply`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text, intent: null }) });
    const body = await resp.json();
    if (resp.status === 202) { $("#chat-text").value = ""; followSend(chatId, body.client_msg_id); }
    else $("#chat-status").textContent = body.message || String(resp.status);
  });
  // Queued is not sent: 发送中 until the gateway took it (已发送), or 发送失败 with the reason, read back
  // from the conversation's outgoing messages while the chat stays open on it.
  async function followSend(id, key) {
    $("#chat-status").textContent = "发送中…";
    for (let tries = 0; tries < 600 && chatId === id; tries++) {
      const resp = await authed(`/api/conversations/${id}`).catch(() => null);
      const m = resp && resp.ok ? ((await resp.json()).outgoing || []).find((o) => o.client_msg_id === key) : null;
      if (m && chatId === id) {
        $("#chat-status").textContent = m.label + (m.error ? `：${m.error}` : "");
        if (m.state !== "pending") return;
      }
      await new Promise((done) => setTimeout(done, 1000));
    }
  }

  // --- open tickets, reassigned from the board (POST /api/tickets/{id}/transition, to "assigned") -----------
  const OPEN = new Set(["new", "assigned", "investigating", "reopened"]);
  async function loadTickets() {
    const resp = await authed("/api/tickets?limit=200");
    if (!resp.ok) return;
    const items = (await resp.json()).items.filter((t) => OPEN.has(t.state));
    const body = document.createElement("tbody");
    for (const t of items) {
      const tr = document.createElement("tr");
      tr.className = "ticket" + (t.overdue && t.overdue.length ? " t3" : "");
      tr.dataset.ticket = String(t.id);
      cell(tr, "#" + t.id);
      cell(tr, t.severity);
      cell(tr, t.state);
      cell(tr, t.buyer);
      cell(tr, t.owner ? nameOf(t.owner) : "—", "owner");
      const td = document.createElement("td");
      const select = document.createElement("select");
      for (const a of state.roster) select.add(new Option(a.name || a.id, a.id));
      if (t.owner) select.value = t.owner;
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "改派";
      button.addEventListener("click", async () => {
        const r = await authed(`/api/tickets/${t.id}/transition`, {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ to: "assigned", owner: select.value, version: t.version, note: "reassigned from the board" }) });
        const answer = await r.json();
        $("#ticket-status").textContent = r.ok ? `#${t.id} → ${nameOf(select.value)}` : `#${t.id}: ${answer.message}`;
        loadTickets();
      });
      td.append(select, button);
      tr.appendChild(td);
      body.appendChild(tr);
    }
    $("#tickets tbody").replaceWith(body);
    $("#ticket-count").textContent = "(" + items.length + ")";
  }
  $("#tickets-refresh").addEventListener("click", loadTickets);
  setInterval(() => { if (source) loadTickets(); }, 30000);

  // --- sends that are failing (GET /api/board/outbox): retrying 发送中 with the last error, or given up 发送失败 ---
  const KINDS = { reply: "回复", reminder: "催付", notice: "工单回访" };
  async function loadSendFailures() {
    let resp;
    try { resp = await authed("/api/board/outbox"); } catch (e) { return; }
    if (!resp.ok) return;
    const body = await resp.json();
    const ul = $("#send-failures");
    ul.replaceChildren();
    for (const m of body.items) {
      const li = document.createElement("li");
      li.dataset.state = m.state;
      li.dataset.key = m.client_msg_id;
      const kind = m.kind === "reply" && m.sender === "bot" ? "自动回复" : KINDS[m.kind] || m.kind;
      li.textContent = `${kind} → ${m.buyer} (${m.platform}): ${m.state_name}`
        + ` after ${m.attempts} attempt(s)` + (m.error ? `: ${m.error}` : "");
      ul.appendChild(li);
    }
  }
  setInterval(() => { if (source) loadSendFailures(); }, 10000);

  function renderKpis() {
    const shop = state.shop || { consulting_buyers: 0, responses: 0, effective: [] };
    renderDailyFailures(shop.daily_report_failures);
    $("#k-waiting").textContent = state.waiting.size;
    $("#k-consulting").textContent = shop.consulting_buyers;
    $("#k-responses").textContent = shop.responses;
    $("#k-overdue").textContent = shop.tickets_overdue == null ? "–" : shop.tickets_overdue;
    $("#k-overdue").className = shop.tickets_overdue ? "t3" : "";
    $("#k-reminders").textContent = shop.reminders_sent == null ? "–"
      : `${shop.reminders_sent} / ${shop.reminders_recovered} (¥${money((shop.recovered_fen || 0) / 100)})`;
    const eff = $("#effective");
    eff.replaceChildren();
    for (const d of shop.effective.filter((d) => d.day === state.day)) {
      const span = document.createElement("span");
      span.textContent = `${d.platform} 有效回复率 ${pct(d.rate)} (${d.buyers} buyers${d.pending ? ", " + d.pending + " pending" : ""}) `;
      if (d.flagged) {
        const flag = document.createElement("span");
        flag.className = "flag";
        flag.textContent = "FLAGGED 预警";
        flag.title = "at least the configured number of buyers today and an effective-reply rate under the limit";
        span.appendChild(flag);
      }
      eff.appendChild(span);
    }
  }

  function renderWaiting() {
    const rows = [...state.waiting.values()].sort((a, b) =>
      a.waiting_since < b.waiting_since ? -1 : a.waiting_since > b.waiting_since ? 1 : a.conversation_id - b.conversation_id);
    const handed = new Map(state.handovers.map((h) => [h.conversation_id, h]));
    // A buyer whose latest message only closes the chat (谢谢, 好的, an emoji) is listed apart: 已致谢.
    const real = rows.filter((r) => !r.closing), thanked = rows.filter((r) => r.closing);
    const body = document.createElement("tbody");
    for (const r of [...real, ...thanked]) {
      if (r === thanked[0]) {
        const head = document.createElement("tr");
        head.className = "group";
        cell(head, `已致谢 thanked / closing (${thanked.length}): the latest message only closes the chat`).colSpan = 5;
        body.appendChild(head);
      }
      const tr = document.createElement("tr");
      tr.className = r.closing ? "waiting closing" : "waiting";
      tr.dataset.conversation = String(r.conversation_id);
      tr.addEventListener("click", () => openChat(r.conversation_id));
      tr.dataset.buyer = r.buyer;
      tr.dataset.since = String(Date.parse(r.waiting_since));
      cell(tr, "", "wait num");
      cell(tr, r.buyer);
      cell(tr, r.platform);
      tr.dataset.agent = r.agent || "";
      const h = handed.get(r.conversation_id);
      // A handover is shown while the buyer is still its receiver's (a transfer since shows the new agent).
      const viaHandover = h && h.to_agent === r.agent;
      cell(tr, viaHandover ? nameOf(h.from_agent) + " → " + nameOf(h.to_agent) : nameOf(r.agent),
           viaHandover ? "agent handed" : "agent");
      cell(tr, r.last_buyer_text, "text", r.last_buyer_text);
      body.appendChild(tr);
    }
    $("#waiting tbody").replaceWith(body);
    $("#waiting-count").textContent = "(" + real.length + (thanked.length ? ` + ${thanked.length} 已致谢` : "") + ")";
  }

  function renderAgents() {
    const rows = [...state.agents.values()];
    const shiftOf = new Map(state.roster.map((a) => [a.id, a.shift]));
    const csat = new Map(((state.shop || {}).csat || []).map((c) => [c.agent + "|" + c.platform, c]));
    const ended = new Map(((state.shop || {}).ended || []).map((e) => [e.agent + "|" + e.platform, e.ended]));
    const load = new Map();  // buyers waiting on each agent now, per platform (已致谢 ones left out)
    for (const w of state.waiting.values()) {
      if (w.closing) continue;
      const key = w.agent + "|" + w.platform;
      load.set(key, (load.get(key) || 0) + 1);
    }
    // An agent with buyers waiting on a platform but no figures there today (e.g. just transferred to them)
    // gets a row for its load; a roster agent with neither, one empty row.
    const shown = new Set(rows.map((r) => r.agent + "|" + r.platform));
    for (const key of load.keys()) {
      const [agent, platform] = key.split("|");
      if (agent && !shown.has(key) && shiftOf.has(agent)) { rows.push({ agent, platform, idle: true }); shown.add(key); }
    }
    const seen = new Set(rows.map((r) => r.agent));
    for (const a of state.roster) if (!seen.has(a.id)) rows.push({ agent: a.id, platform: "", idle: true });
    rows.sort((a, b) => (nameOf(a.agent) + a.platform).localeCompare(nameOf(b.agent) + b.platform));
    const body = document.createElement("tbody");
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.className = "agent " + tier(r.avg_response_s);
      tr.dataset.agent = r.agent;
      tr.dataset.platform = r.platform;
      const shift = shiftOf.get(r.agent);
      cell(tr, r.name || nameOf(r.agent));
      const s = state.status.get(r.agent);
      const st = cell(tr, s ? s.status_name : "–", "status " + (s ? s.status : ""),
                      s && s.heartbeat_at ? "last console heartbeat " + new Date(s.heartbeat_at).toLocaleString("zh-CN", { timeZone: state.timezone }) : "");
      st.dataset.status = s ? s.status : "";
      cell(tr, shift ? shift : shift === null ? "off 休" : "–", shift ? "on-shift" : "off-shift");
      cell(tr, String(load.get(r.agent + "|" + r.platform) || 0), "num load");
      cell(tr, String(ended.get(r.agent + "|" + r.platform) || 0), "num ended");
      cell(tr, r.platform || "–");
      if (r.idle) { for (let i = 0; i < 13; i++) cell(tr, "–", "num"); body.appendChild(tr); continue; }
      cell(tr, r.consulting_buyers, "num");
      cell(tr, pct(r.reply_rate), "num");
      cell(tr, r.responses, "num responses");
      cell(tr, fmtS(r.avg_response_s), "num avg " + tier(r.avg_response_s));
      cell(tr, fmtS(r.p50_response_s), "num " + tier(r.p50_response_s));
      cell(tr, fmtS(r.p90_response_s), "num " + tier(r.p90_response_s));
      cell(tr, fmtS(r.first_response_avg_s), "num " + tier(r.first_response_avg_s));
      cell(tr, pct(r.within_30s_rate), "num");
      cell(tr, pct(r.effective_reply_rate) + (r.effective_reply_pending ? ` (${r.effective_reply_pending} pending)` : ""),
           "num effective", "undecided buyer-days (an unanswered message younger than the window) are left out of the rate");
      cell(tr, pct(r.conversion_rate), "num");
      cell(tr, money(r.sales), "num");
      cell(tr, money(r.avg_order_value), "num");
      const rated = csat.get(r.agent + "|" + r.platform);
      cell(tr, rated ? `${pct(rated.csat)} (${rated.csat_responses})` : "–", "num csat");
      body.appendChild(tr);
    }
    $("#agents tbody").replaceWith(body);
  }

  function renderHandovers() {
    const body = document.createElement("tbody");
    for (const h of state.handovers) {
      const tr = document.createElement("tr");
      tr.className = "handover";
      tr.dataset.buyer = h.buyer;
      tr.dataset.since = String(Date.parse(h.waiting_since));
      cell(tr, "", "wait num");
      cell(tr, h.buyer);
      cell(tr, nameOf(h.from_agent) + " → " + nameOf(h.to_agent));
      cell(tr, new Date(h.shift_change_at).toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", timeZone: state.timezone }));
      cell(tr, h.last_buyer_text, "text", h.last_buyer_text);
      body.appendChild(tr);
    }
    $("#handovers tbody").replaceWith(body);
    $("#handover-count").textContent = "(" + state.handovers.length + ")";
  }

  function svg(tag, attrs, text) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text != null) el.textContent = text;
    return el;
  }

  function renderChart() {
    const chart = $("#chart");
    chart.replaceChildren();
    const hours = (state.shop && state.shop.hours) || [];
    const W = 720, H = 200, left = 34, bottom = 18, top = 8;
    const max = Math.max(state.thresholds[2] * 1.2, ...hours.map((h) => h.avg_response_s));
    const y = (v) => H - bottom - (v / max) * (H - bottom - top);
    const bw = (W - left) / 24;
    for (const t of state.thresholds) {
      chart.appendChild(svg("line", { x1: left, x2: W, y1: y(t), y2: y(t), stroke: "#d0d7de", "stroke-dasharray": "4 3" }));
      chart.appendChild(svg("text", { x: 2, y: y(t) + 3 }, t + "s"));
    }
    for (const h of hours) {
      const x = left + h.hour * bw + 2;
      const bar = svg("rect", { x, y: y(h.avg_response_s), width: bw - 4, height: H - bottom - y(h.avg_response_s),
                                class: "bar", fill: `var(--${tier(h.avg_response_s)})` });
      bar.appendChild(svg("title", {}, `${h.hour}:00 · ${h.avg_response_s}s · ${h.responses} responses`));
      chart.appendChild(bar);
    }
    for (let hr = 0; hr < 24; hr += 2) chart.appendChild(svg("text", { x: left + hr * bw + 2, y: H - 4 }, hr + "时"));
    chart.appendChild(svg("line", { x1: left, x2: W, y1: H - bottom, y2: H - bottom, stroke: "#8c959f" }));
  }

  // Waits count up every half second without re-rendering the tables.
  function tick() {
    const now = Date.now() + state.offsetMs;
    for (const tr of document.querySelectorAll("tr.waiting, tr.handover")) {
      const seconds = (now - Number(tr.dataset.since)) / 1000;
      const td = tr.firstChild;
      td.textContent = waitText(seconds);
      const t = tier(seconds);
      if (!tr.classList.contains(t)) { tr.classList.remove("t0", "t1", "t2", "t3"); tr.classList.add(t); }
      td.className = "wait num " + t;
    }
  }
  setInterval(tick, 500);

  connect();
})();
