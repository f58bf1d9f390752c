// The agent's console: conversations, the chat, suggestions, replies. No build step.
// Buyer text is only ever set with textContent: a message containing HTML is shown, never run.
"use strict";

const state = { token: sessionStorage.getItem("csbot.token") || "", selected: null, detail: null,
                usedIntent: null, ticket: null, skewMs: 0, timezone: "Asia/Shanghai", thresholds: [30, 60, 100], listTimer: null, tick: null };
const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: { "Authorization": "Bearer " + state.token, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (response.status === 401) { logout(`请重新登录：${(data && data.message) || "token 无效"}`); throw new Error("unauthorized"); }
  return { status: response.status, data };
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function waitClass(seconds) {
  const [good, ok, slow] = state.thresholds;
  return seconds < good ? "good" : seconds < ok ? "ok" : seconds < slow ? "slow" : "lost";
}

function formatWait(seconds) {
  const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
  return m ? `${m}分${String(s).padStart(2, "0")}秒` : `${s}秒`;
}

function updateWaits() {
  const now = Date.now() + state.skewMs;
  document.querySelectorAll(".wait[data-since]").forEach((node) => {
    const seconds = Math.max(0, (now - Date.parse(node.dataset.since)) / 1000);
    node.textContent = formatWait(seconds);
    node.className = "wait " + waitClass(seconds);
  });
}

async function loadList() {
  const { status, data } = await api("GET", "/api/conversations?limit=200");
  if (status !== 200) return;
  if (data.now) state.skewMs = Date.parse(data.now) - Date.now();
  if (data.thresholds_s) state.thresholds = data.thresholds_s;
  const list = $("conversations");
  list.replaceChildren();
  $("count").textContent = `(${data.total})`;
  for (const c of data.items) {
    const li = el("li");
    li.dataset.id = c.id;
    if (c.id === state.selected) li.classList.add("selected");
    if (c.waiting_since) { const w = el("span", "wait"); w.dataset.since = c.waiting_since; li.append(w); }
    li.append(el("div", "buyer", `${c.buyer} · ${c.platform === "wangwang" ? "旺旺" : "咚咚"}`));
    li.append(el("div", "last", c.latest ? c.latest.text : ""));
    li.addEventListener("click", () => select(c.id));
    list.append(li);
  }
  updateWaits();
  if (state.selected && state.detail) {
    const mine = data.items.find((c) => c.id === state.selected);
    if (mine && mine.latest && mine.latest.id !== lastMessageId()) await loadDetail();
  }
}

function lastMessageId() {
  const messages = state.detail ? state.detail.messages : [];
  return messages.length ? messages[messages.length - 1].id : null;
}

async function select(id) {
  state.selected = id;
  document.querySelectorAll("#conversations li").forEach((li) => li.classList.toggle("selected", Number(li.dataset.id) === id));
  $("reply").value = "";
  state.usedIntent = null;
  await loadDetail();
}

async function loadDetail() {
  const { status, data } = await api("GET", `/api/conversations/${state.selected}`);
  if (status !== 200) { $("chat-title").textContent = (data && data.message) || "无法打开会话"; return; }
  state.detail = data;
  $("chat-title").textContent = `${data.buyer} · ${data.platform === "wangwang" ? "旺旺" : "咚咚"}`;
  const list = $("messages");
  list.replaceChildren();
  for (const m of data.messages) {
    const li = el("li", m.sender, m.text);
    li.append(el("time", "", `${m.sender === "buyer" ? "买家" : m.sender === "agent" ? m.agent || "客服" : "机器人"} ${new Date(m.sent_at).toLocaleTimeString("zh-CN", { timeZone: state.timezone })}`));
    list.append(li);
  }
  list.lastElementChild && list.lastElementChild.scrollIntoView({ block: "end" });
  renderSuggestions($("suggestions"), data.suggestions, true);
  $("reply").disabled = $("send").disabled = false;
  $("open-ticket").hidden = false;
}

// --- complaint tickets -------------------------------------------------------------------------
const STATE_NAMES = { new: "登记", assigned: "已分配", investigating: "调查中", resolved: "已处理",
                      callback: "回访中", closed: "已归档", reopened: "重开" };

async function loadTickets() {
  const query = new URLSearchParams({ limit: "100" });
  if ($("filter-state").value) query.set("state", $("filter-state").value);
  if ($("filter-severity").value) query.set("severity", $("filter-severity").value);
  if ($("filter-overdue").checked) query.set("overdue", "true");
  const { status, data } = await api("GET", "/api/tickets?" + query);
  if (status !== 200) return;
  $("ticket-count").textContent = `(${data.total})`;
  const list = $("tickets");
  list.replaceChildren();
  for (const t of data.items) {
    const li = el("li", t.overdue.length ? "overdue" : "");
    li.append(el("span", "sev-" + t.severity, t.severity + " "), el("span", "", `#${t.id} ${t.buyer} · ${STATE_NAMES[t.state] || t.state}`));
    if (t.overdue.length) li.append(el("span", "error", " 超时"));
    li.append(el("div", "last", t.summary || t.reason || ""));
    li.addEventListener("click", () => showTicket(t.id));
    list.append(li);
  }
}

async function showTicket(id) {
  const { status, data } = await api("GET", `/api/tickets/${id}`);
  if (status !== 200) return;
  state.ticket = data;
  $("ticket-detail").hidden = false;
  $("ticket-error").textContent = "";
  $("ticket-title").textContent = `#${data.id} ${data.severity} ${data.buyer} · ${STATE_NAMES[data.state] || data.state}（${data.owner || "未分配"}）`;
  const history = $("ticket-history");
  history.replaceChildren();
  for (const h of data.history) {
    history.append(el("li", "", `${new Date(h.at).toLocaleString("zh-CN", { timeZone: state.timezone })} ${h.actor}: ${h.from || ""}→${h.to || ""} ${h.note || ""}`));
  }
  const actions = $("ticket-actions");
  actions.replaceChildren();
  for (const to of data.allowed) {
    const button = el("button", "", STATE_NAMES[to] || to);
    button.type = "button";
    button.dataset.to = to;
    button.addEventListener("click", () => moveTicket(to));
    actions.append(button);
  }
}

async function moveTicket(to) {
  const t = state.ticket;
  const body = { to, note: $("ticket-action-note").value, version: t.version };
  if ($("ticket-resolution").value) body.resolution = $("ticket-resolution").value;
  const { status, data } = await api("POST", `/api/tickets/${t.id}/transition`, body);
  if (status !== 200) { $("ticket-error").textContent = data.message + (data.allowed ? `（可以：${data.allowed.join("、")}）` : ""); return; }
  $("ticket-action-note").value = "";
  await showTicket(t.id);
  await loadTickets();
}

async function openTicket() {
  const body = { conversation_id: state.selected, severity: $("ticket-severity").value,
                 category: $("ticket-category").value, note: $("ticket-note").value.trim() };
  const { status, data } = await api("POST", "/api/tickets", body);
  $("ticket-status").textContent = status === 201 ? `已登记工单 #${data.id}` : status === 200 ? `已并入工单 #${data.id}` : data.message;
  if (status === 200 || status === 201) { $("ticket-note").value = ""; await loadTickets(); await showTicket(data.id); }
}

function renderSuggestions(list, items, numbered) {
  list.replaceChildren();
  items.forEach((s, i) => {
    const li = el("li");
    if (numbered && i < 3) li.append(el("span", "key", String(i + 1)));
    li.append(el("span", "title", s.title), el("span", "score", s.score.toFixed(2)), el("div", "reply-text", s.reply));
    li.addEventListener("click", () => useSuggestion(s));
    list.append(li);
  });
  if (!items.length) list.append(el("li", "none", numbered ? "没有足够把握的推荐" : "没有找到"));
}

function useSuggestion(s) {
  if (!state.selected) return;
  $("reply").value = s.reply;
  state.usedIntent = s.intent;
  $("reply").focus();
}

async function send() {
  const text = $("reply").value.trim();
  if (!text || !state.selected) return;
  $("send").disabled = true;
  $("blocked").hidden = true;
  const { status, data } = await api("POST", `/api/conversations/${state.selected}/reply`, { text, intent: state.usedIntent });
  $("send").disabled = false;
  if (status === 202) {
    $("reply").value = "";
    state.usedIntent = null;
    $("reply-status").textContent = data.warnings.length ? `已发送（提醒：${data.warnings.map((w) => w.reason).join("；")}）` : "已发送";
    scheduleRefresh();
  } else if (status === 422) {
    $("blocked").hidden = false;
    $("blocked").textContent = `未发送：${data.reason}\n规则 ${data.rule}，问题文字「${data.violations[0].matched}」`;
  } else {
    $("reply-status").textContent = (data && data.message) || `发送失败（${status}）`;
  }
}

async function search(text) {
  const { status, data } = await api("POST", "/api/suggest", { text, limit: 5 });
  renderSuggestions($("search-results"), status === 200 ? data.suggestions : [], false);
}

function logout(message) {
  sessionStorage.removeItem("csbot.token");
  state.token = "";
  clearInterval(state.listTimer);
  clearInterval(state.tick);
  // Nothing of the previous user stays on screen.
  Object.assign(state, { selected: null, detail: null, ticket: null, usedIntent: null });
  for (const id of ["conversations", "messages", "suggestions", "search-results", "tickets", "ticket-history", "ticket-actions"]) $(id).replaceChildren();
  $("chat-title").textContent = "选择一个会话";
  $("ticket-detail").hidden = $("ticket-form").hidden = $("open-ticket").hidden = true;
  $("reply").value = "";
  $("reply").disabled = $("send").disabled = true;
  $("work").hidden = $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

async function start() {
  const { status, data } = await api("GET", "/api/me");
  if (status !== 200) { logout((data && data.message) || "token 无效"); return; }
  $("who").textContent = `${data.name || data.agent || data.role}（${data.role}）`;
  state.timezone = data.timezone || state.timezone;
  $("login").hidden = true;
  $("work").hidden = $("logout").hidden = false;
  await loadList();
  await loadTickets();
  follow();
  // A slow safety net; changes normally arrive on the stream within a second.
  state.listTimer = setInterval(() => loadList().catch(() => {}), 30000);
  state.tick = setInterval(updateWaits, 1000);
}

// Server-Sent Events read with fetch(), so that the token travels in the Authorization header.
async function follow() {
  const token = state.token;
  while (state.token && state.token === token) {
    try {
      const response = await fetch("/api/console/stream", { headers: { "Authorization": "Bearer " + token } });
      if (response.status === 401) { logout("请重新登录：token 无效"); return; }
      $("live").className = "live on";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (/^event: changed$/m.test(block)) scheduleRefresh();
        }
      }
    } catch (e) { /* dropped: reconnect below */ }
    $("live").className = "live off";
    await new Promise((resolve) => setTimeout(resolve, 1000));
    scheduleRefresh();
  }
}

let refreshTimer = null;
function scheduleRefresh() {
  // Several changes in a burst make one refresh.
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => { loadList().catch(() => {}); loadTickets().catch(() => {}); }, 150);
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("csbot.token", state.token);
  start();
});
$("logout").addEventListener("click", () => logout());
$("open-ticket").addEventListener("click", () => { $("ticket-form").hidden = !$("ticket-form").hidden; });
$("ticket-form").addEventListener("submit", (e) => { e.preventDefault(); openTicket(); });
for (const id of ["filter-state", "filter-severity", "filter-overdue"]) $(id).addEventListener("change", () => loadTickets());
$("reply-form").addEventListener("submit", (e) => { e.preventDefault(); send(); });
$("reply").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); } });
$("reply").addEventListener("input", () => { $("blocked").hidden = true; });
$("search").addEventListener("keydown", (e) => { if (e.key === "Enter") search($("search").value); });
document.addEventListener("keydown", (e) => {
  const typing = ["TEXTAREA", "INPUT"].includes(document.activeElement.tagName);
  if (typing || !state.detail || !["1", "2", "3"].includes(e.key)) return;
  const s = state.detail.suggestions[Number(e.key) - 1];
  if (s) { e.preventDefault(); useSuggestion(s); }
});
if (state.token) start(); else logout();
