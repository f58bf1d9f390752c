// The agent's console (客服工作台): conversations, the chat, suggestions, the buyer's context, quick
// phrases, transfers, status and alerts. No build step.
// Whatever comes from buyers, colleagues or the shop (messages, nicknames, phrases, order titles) is only
// ever set with textContent: text containing HTML is shown, never run.
"use strict";

const state = {
  token: sessionStorage.getItem("csbot.token") || "", me: null, selected: null, detail: null, context: null,
  earlierShown: 0, usedIntent: null, ticket: null, skewMs: 0, timezone: "Asia/Shanghai", thresholds: [30, 60, 100],
  timers: [], items: [], phrases: [], popup: [], popupIndex: 0, seen: null, unread: new Set(),
  pendingSend: null, confirmed: false,
  session: false,  // working from the login session (/login) rather than a pasted token
  generation: 0,  // bumped at each logout: the live feed of the previous user stops
};
const $ = (id) => document.getElementById(id);

// Stable error codes from the API → what the agent reads.
const ERRORS = {
  unauthorized: "登录口令无效或已失效，请重新登录",
  forbidden: "没有权限做这件事",
  not_routed_to_you: "这个买家没有分配给你（不是你接待、交接或转接给你的，也不是你负责的工单）",
  not_found: "找不到了，可能已被合并或删除",
  bad_request: "填写的内容有误",
  bad_json: "请求格式有误",
  blocked: "内容违反合规规则，没有发送",
  unknown_agent: "没有这个客服",
  unknown_group: "没有这个组",
  transfer_to_self: "不能转接给自己",
  transfer_conflict: "这个会话刚刚被别人转接了，请刷新后再看",
  group_unavailable: "这个组现在没有在线的客服可以接",
  no_account_on_platform: "对方没有这个平台的账号，不能接这个会话",
  bad_status: "状态只能是 在线、忙碌 或 挂起",
  not_an_agent: "这个口令不属于某位客服",
  phrase_code_taken: "这个短语代码已经有人用了",
  bad_phrase_code: "短语代码必须是 1-20 个字符，不含空格",
  bad_phrase_text: "短语内容不能为空，最多 500 个字",
  team_phrases_supervisor_only: "团队短语只有主管可以管理",
  not_failed: "这条回复没有发送失败，不需要重试",
  already_ended: "这个会话已经结束了",
  illegal_transition: "工单现在不能这样操作",
  conflict: "工单刚被别人改过，请刷新后再试",
  duplicate: "这个买家已经有同类的未结工单",
  internal: "系统出错了，已记录，请稍后再试",
};
function errorText(status, data) {
  if (data && ERRORS[data.error]) return ERRORS[data.error];
  return status >= 500 ? ERRORS.internal : `操作没有成功（${status}）`;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: { ...csbotSession.headers(state.token), ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (response.status === 401) { logout(ERRORS.unauthorized); throw new Error("unauthorized"); }
  return { status: response.status, data };
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

const PLATFORM = { wangwang: "旺旺", dongdong: "咚咚" };
const ORDER_STATUS = { unpaid: "待付款", paid: "已付款", closed: "已关闭", unknown: "未知" };
const REMINDER_STATE = { due: "待发送", sent: "已发送", skipped: "已跳过", missed: "已错过" };
const STATE_NAMES = { new: "登记", assigned: "已分配", investigating: "调查中", resolved: "已处理",
                      callback: "回访中", closed: "已归档", reopened: "重开" };
// Ticket moves are named as what the agent does, not the state it ends in.
const ACTION_NAMES = { assigned: "分配", investigating: "开始调查", resolved: "标记已处理", callback: "发起回访",
                       closed: "归档", reopened: "重新打开" };
const CATEGORY_NAMES = { service: "服务", quality: "质量", refund: "退款", damage: "破损", wrong_item: "错发漏发", general: "其他" };

function time(at, withDate) {
  if (!at) return "";
  const options = { timeZone: state.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit" };
  if (withDate) Object.assign(options, { month: "2-digit", day: "2-digit" });
  return new Date(at).toLocaleString("zh-CN", options);
}

function waitClass(seconds) {
  const [good, ok, slow] = state.thresholds;
  return seconds < good ? "good" : seconds < ok ? "ok" : seconds < slow ? "slow" : "lost";
}

function formatWait(seconds) {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
  if (h) return `${h}小时${String(m).padStart(2, "0")}分`;
  return m ? `${m}分${String(s).padStart(2, "0")}秒` : `${s}秒`;
}

function tick() {
  const now = Date.now() + state.skewMs;
  document.querySelectorAll(".wait[data-since]").forEach((node) => {
    const seconds = Math.max(0, (now - Date.parse(node.dataset.since)) / 1000);
    node.textContent = formatWait(seconds);
    node.className = "wait " + waitClass(seconds);
  });
  document.querySelectorAll(".countdown[data-until]").forEach((node) => {
    const seconds = (Date.parse(node.dataset.until) - now) / 1000;
    node.textContent = seconds > 0 ? `${formatWait(seconds)}后自动关闭` : "已到自动关闭时间";
    node.classList.toggle("soon", seconds > 0 && seconds < 3600);
  });
}

// --- the conversation list, handovers first ------------------------------------------------------

async function loadList() {
  const { status, data } = await api("GET", "/api/conversations?limit=200");
  if (status !== 200) return;
  if (data.now) state.skewMs = Date.parse(data.now) - Date.now();
  if (data.thresholds_s) state.thresholds = data.thresholds_s;
  state.items = data.items;
  noticeNewMessages(data.items);
  const list = $("conversations");
  list.replaceChildren();
  $("count").textContent = `(${data.total})`;
  $("list-badge").textContent = state.unread.size ? `(${state.unread.size})` : "";
  for (const c of data.items) {
    const li = el("li");
    li.dataset.id = c.id;
    if (c.id === state.selected) li.classList.add("selected");
    if (state.unread.has(c.id)) li.classList.add("unread");
    if (c.waiting_since) { const w = el("span", "wait"); w.dataset.since = c.waiting_since; li.append(w); }
    li.append(el("div", "buyer", `${c.buyer} · ${PLATFORM[c.platform] || c.platform}`));
    if (c.handover && c.handover.waiting) {
      li.classList.add("handover");
      li.append(el("div", "tag handover-tag", `交接自 ${c.handover.from_name}（${time(c.handover.shift_change_at)} 交班）`));
    }
    if (c.transfer && state.me && c.transfer.to === state.me.agent) {
      li.append(el("div", "tag transfer-tag", `转接自 ${c.transfer.from_name}${c.transfer.note ? "：" + c.transfer.note : ""}`));
    }
    if (c.ended_at) li.append(el("div", "tag ended-tag", `已结束 ${time(c.ended_at)}`));
    li.append(el("div", "last", c.latest ? c.latest.text : ""));
    li.addEventListener("click", () => select(c.id));
    list.append(li);
  }
  tick();
  if (state.selected) {
    const mine = data.items.find((c) => c.id === state.selected);
    if (mine && mine.latest && mine.latest.id !== lastMessageId()) await loadDetail();
  }
}

// A buyer wrote to me: a sound, the tab title's count, a desktop notification if allowed.
function noticeNewMessages(items) {
  const latest = new Map(items.filter((c) => c.latest && c.latest.sender === "buyer").map((c) => [c.id, c.latest.id]));
  if (state.seen === null) { state.seen = latest; return; }
  const fresh = [];
  for (const [id, messageId] of latest) {
    if (state.seen.get(id) !== messageId) {
      if (!(id === state.selected && document.hasFocus())) { state.unread.add(id); fresh.push(id); }
    }
  }
  state.seen = latest;
  if (fresh.length) {
    const c = items.find((x) => x.id === fresh[0]);
    alertAgent(`${c.buyer}：${c.latest.text}`);
  }
  showUnread();
}

function showUnread() {
  const n = state.unread.size;
  document.title = n ? `(${n}) 客服工作台` : "客服工作台";
  $("list-badge").textContent = n ? `(${n})` : "";
}

function alertAgent(text) {
  try {
    const audio = new (window.AudioContext || window.webkitAudioContext)();
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = 880; gain.gain.value = 0.05;
    osc.connect(gain).connect(audio.destination);
    osc.start(); osc.stop(audio.currentTime + 0.15);
    osc.onended = () => audio.close();
  } catch (e) { /* no sound available */ }
  if (window.Notification && Notification.permission === "granted" && !document.hasFocus()) {
    try { new Notification("客服工作台", { body: text, tag: "csbot" }); } catch (e) { /* ignored */ }
  }
}

function lastMessageId() {
  const messages = state.detail ? state.detail.messages : [];
  return messages.length ? messages[messages.length - 1].id : null;
}

function nextWaiting() {
  const waiting = state.items.filter((c) => c.waiting_since);
  if (!waiting.length) return;
  const at = waiting.findIndex((c) => c.id === state.selected);
  select(waiting[(at + 1) % waiting.length].id);
}

async function select(id) {
  state.selected = id;
  state.unread.delete(id);
  showUnread();
  document.querySelectorAll("#conversations li").forEach((li) => {
    li.classList.toggle("selected", Number(li.dataset.id) === id);
    if (Number(li.dataset.id) === id) li.classList.remove("unread");
  });
  document.body.classList.remove("show-list");
  clearReply();
  $("transfer-form").hidden = true;
  $("chat-notice").textContent = $("reply-status").textContent = "";
  state.pendingSend = null;
  state.earlierShown = 0;
  await loadDetail();
  await loadContext();
}

// Order numbers in a message link to the order in the buyer's context.
function withOrderLinks(node, text) {
  const known = state.context ? state.context.orders.map((o) => o.order_id).filter(Boolean) : [];
  const escaped = known.map((id) => id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp([...escaped, "\\d{12,20}"].join("|"), "g");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    node.append(document.createTextNode(text.slice(last, match.index)));
    const a = el("a", "order-link", match[0]);
    a.href = "#order-" + match[0];
    a.addEventListener("click", (e) => { e.preventDefault(); showOrder(match[0]); });
    node.append(a);
    last = match.index + match[0].length;
  }
  node.append(document.createTextNode(text.slice(last)));
}

function showOrder(orderId) {
  const card = document.querySelector(`#orders li[data-order="${CSS.escape(orderId)}"]`);
  if (!card) { $("chat-notice").textContent = `订单 ${orderId} 不是这个买家在本店的订单`; return; }
  document.querySelectorAll("#orders li.highlight").forEach((n) => n.classList.remove("highlight"));
  card.classList.add("highlight");
  card.scrollIntoView({ block: "nearest" });
}

function senderName(m) {
  return m.sender === "buyer" ? "买家" : m.sender === "agent" ? (m.agent || "客服") : "机器人";
}

async function loadDetail() {
  const id = state.selected;
  const { status, data } = await api("GET", `/api/conversations/${id}`);
  if (id !== state.selected) return;
  if (status !== 200) {
    $("chat-title").textContent = errorText(status, data);
    $("messages").replaceChildren();
    $("reply").disabled = $("send").disabled = true;
    $("open-ticket").hidden = $("open-transfer").hidden = $("end-conversation").hidden = true;
    state.detail = null;
    return;
  }
  state.detail = data;
  $("chat-title").textContent = `${data.buyer} · ${PLATFORM[data.platform] || data.platform}`;
  $("search-platform").textContent = `（${PLATFORM[data.platform] || data.platform}）`;
  renderMessages();
  const transfers = $("transfers");
  transfers.replaceChildren();
  for (const t of data.transfers) {
    transfers.append(el("li", "", `${time(t.at)} ${t.from_name} 转接给 ${t.to_name}${t.note ? "：" + t.note : ""}`));
  }
  renderDeliveries();
  renderSuggestions($("suggestions"), data.suggestions, true);
  $("reply").disabled = $("send").disabled = false;
  $("open-ticket").hidden = $("open-transfer").hidden = false;
  $("end-conversation").hidden = Boolean(data.ended_at);  // a buyer message after the end shows it again
}

function renderMessages() {
  const data = state.detail;
  if (!data) return;
  const list = $("messages");
  list.replaceChildren();
  for (const m of data.messages) {
    const li = el("li", m.sender);
    withOrderLinks(li, m.text);
    li.append(el("time", "", `${senderName(m)} ${time(m.sent_at)}${m.sender === "agent" && m.client_msg_id ? " · 已发送" : ""}`));
    list.append(li);
  }
  list.lastElementChild && list.lastElementChild.scrollIntoView({ block: "nearest" });
}

// Delivery truth: 发送中 until the gateway took it, 发送失败 with the reason and a retry.
function renderDeliveries() {
  const list = $("deliveries");
  list.replaceChildren();
  const data = state.detail;
  if (!data) return;
  for (const d of data.deliveries) {
    const li = el("li", "agent " + d.state, d.text);
    if (d.state === "failed") {
      li.append(el("div", "error", `发送失败：${d.last_error || "网关拒绝"}`));
      const retry = el("button", "retry", "重试");
      retry.type = "button";
      retry.addEventListener("click", () => retryDelivery(d.id));
      li.append(retry);
    } else {
      li.append(el("time", "", `发送中… ${time(d.created_at)}`));
    }
    list.append(li);
  }
  const pending = state.pendingSend;
  if (pending && pending.conversation === data.id) {
    const sent = data.messages.some((m) => m.client_msg_id === pending.id);
    const failed = data.deliveries.find((d) => d.client_msg_id === pending.id && d.state === "failed");
    if (sent) {
      $("reply-status").textContent = pending.warnings ? `已发送（提醒：${pending.warnings}）` : "已发送";
      state.pendingSend = null;
    } else if (failed) {
      $("reply-status").textContent = `发送失败：${failed.last_error || "网关拒绝"}`;
      state.pendingSend = null;
    } else {
      $("reply-status").textContent = "发送中…";
      setTimeout(() => { if (state.pendingSend === pending) loadDetail().catch(() => {}); }, 1000);
    }
  }
}

async function retryDelivery(id) {
  const delivery = state.detail && state.detail.deliveries.find((d) => d.id === id);
  const { status, data } = await api("POST", `/api/outbox/${id}/retry`);
  $("reply-status").textContent = status === 200 ? "发送中…" : errorText(status, data);
  if (status === 200 && delivery) state.pendingSend = { id: delivery.client_msg_id, conversation: state.selected, warnings: "" };
  await loadDetail();
}

// --- the buyer's context: orders, tickets, earlier conversations ----------------------------------

async function loadContext(more) {
  const id = state.selected;
  const offset = more ? state.earlierShown : 0;
  const { status, data } = await api("GET", `/api/conversations/${id}/context?limit=5&offset=${offset}`);
  if (id !== state.selected) return;
  if (status !== 200) { $("context").hidden = true; state.context = null; return; }
  $("context").hidden = false;
  if (!more) {
    state.context = data;
    renderOrders(data.orders);
    renderBuyerTickets(data.tickets);
    $("earlier").replaceChildren();
    state.earlierShown = 0;
    renderMessages();  // order numbers become links
  }
  for (const c of data.earlier.items) {
    const li = el("li");
    const details = el("details");
    details.append(el("summary", "", `${time(c.started_at, true)} · ${c.messages.length} 条消息`));
    for (const m of c.messages) {
      const line = el("div", "earlier-line " + m.sender);
      line.append(el("span", "muted", `${senderName(m)} ${time(m.sent_at)}：`));
      withOrderLinks(line, m.text);
      details.append(line);
    }
    li.append(details);
    $("earlier").append(li);
  }
  state.earlierShown += data.earlier.items.length;
  $("earlier-count").textContent = `(${data.earlier.total})`;
  $("earlier-more").hidden = state.earlierShown >= data.earlier.total;
  if (!data.earlier.total) $("earlier").replaceChildren(el("li", "none", "没有更早的会话"));
  tick();
}

function renderOrders(orders) {
  const list = $("orders");
  list.replaceChildren();
  if (!orders.length) list.append(el("li", "none", "这个买家在本店没有订单"));
  for (const o of orders) {
    const li = el("li", "order " + o.status);
    li.dataset.order = o.order_id;
    li.id = "order-" + o.order_id;
    const head = el("div", "row");
    head.append(el("span", "title", o.order_id), el("span", "status-" + o.status, ORDER_STATUS[o.status] || o.status));
    li.append(head, el("div", "", o.title || ""));
    li.append(el("div", "muted", `${o.amount !== null ? "¥" + o.amount.toFixed(2) : ""} · 下单 ${time(o.created_at, true)}${o.paid_at ? " · 付款 " + time(o.paid_at, true) : ""}`));
    if (o.status === "unpaid" && o.closes_at) {
      const c = el("div", "countdown");
      c.dataset.until = o.closes_at;
      li.append(c);
    }
    if (o.status === "unpaid" || o.reminders.some((r) => r.state !== "due")) {
      for (const r of o.reminders) {
        li.append(el("div", "reminder", `催付 ${r.slot === "close" ? "关单前" : "第" + r.slot + "次"}：${REMINDER_STATE[r.state] || r.state} ${time(r.decided_at || r.due_at, true)}`));
      }
    }
    list.append(li);
  }
}

function renderBuyerTickets(tickets) {
  const list = $("buyer-tickets");
  list.replaceChildren();
  if (!tickets.length) list.append(el("li", "none", "没有工单"));
  for (const t of tickets) {
    const li = el("li", "", `#${t.id} ${t.severity} ${CATEGORY_NAMES[t.category] || t.category} · ${STATE_NAMES[t.state] || t.state}`);
    li.addEventListener("click", () => showTicket(t.id));
    list.append(li);
  }
}

// --- suggestions, quick phrases and the reply --------------------------------------------------------

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

// Picking a suggestion replaces the whole reply (never appends) and leaves the focus where it was,
// so a second key press picks again instead of typing a digit; Enter then edits it.
function useSuggestion(s) {
  if (!state.selected || !state.detail) return;
  $("reply").value = s.reply;
  state.usedIntent = s.intent;
  hidePopup();
  $("warn").hidden = $("blocked").hidden = true;
}

function clearReply() {
  $("reply").value = "";
  state.usedIntent = null;
  state.confirmed = false;
  hidePopup();
  $("warn").hidden = $("blocked").hidden = true;
}

async function loadPhrases() {
  const { status, data } = await api("GET", "/api/phrases");
  if (status !== 200) return;
  state.phrases = data.items;
  const list = $("phrases");
  list.replaceChildren();
  if (!data.items.length) list.append(el("li", "none", "还没有快捷短语"));
  for (const p of data.items) {
    const li = el("li");
    li.append(el("span", "key", "/" + p.code), el("span", "muted", p.scope === "team" ? " 团队 " : " 个人 "), el("span", "", p.text));
    const mayDelete = p.scope === "personal" || (state.me && state.me.role !== "agent");
    if (mayDelete) {
      const del = el("button", "small", "删除");
      del.type = "button";
      del.addEventListener("click", async (e) => { e.stopPropagation(); await api("DELETE", `/api/phrases/${p.id}`); loadPhrases(); });
      li.append(del);
    }
    li.addEventListener("click", () => usePhrase(p, null));
    list.append(li);
  }
}

async function addPhrase() {
  const body = { code: $("phrase-code").value.trim(), text: $("phrase-text").value.trim(), scope: $("phrase-scope").value };
  const { status, data } = await api("POST", "/api/phrases", body);
  if (status === 201) {
    $("phrase-code").value = $("phrase-text").value = "";
    $("phrase-error").textContent = "";
    await loadPhrases();
  } else if (status === 422 && data.error === "blocked") {
    $("phrase-error").textContent = `没有保存：${data.reason}（规则 ${data.rule}）`;
  } else {
    $("phrase-error").textContent = errorText(status, data);
  }
}

// "/code" or part of a phrase's text at the end of the reply offers the phrases.
function phraseQuery() {
  const value = $("reply").value;
  const slash = value.match(/(?:^|\s)\/(\S*)$/);
  if (slash) return { kind: "code", query: slash[1], start: value.length - slash[1].length - 1 };
  const tail = value.trim();
  if (tail.length >= 2 && tail.length <= 12 && !state.usedIntent) return { kind: "text", query: tail, start: 0 };
  return null;
}

function updatePopup() {
  const q = phraseQuery();
  if (!q) { hidePopup(); return; }
  const matches = state.phrases.filter((p) => q.kind === "code"
    ? p.code.toLowerCase().startsWith(q.query.toLowerCase()) || (q.query && p.text.includes(q.query))
    : p.text.includes(q.query) && p.text !== q.query).slice(0, 6);
  if (!matches.length) { hidePopup(); return; }
  state.popup = matches.map((p) => ({ phrase: p, start: q.start }));
  state.popupIndex = 0;
  renderPopup();
}

function renderPopup() {
  const list = $("phrase-popup");
  list.replaceChildren();
  state.popup.forEach((item, i) => {
    const li = el("li", i === state.popupIndex ? "active" : "");
    li.append(el("span", "key", "/" + item.phrase.code), el("span", "", item.phrase.text));
    li.addEventListener("mousedown", (e) => { e.preventDefault(); usePhrase(item.phrase, item.start); });
    list.append(li);
  });
  list.hidden = false;
}

function hidePopup() { $("phrase-popup").hidden = true; state.popup = []; }

function usePhrase(phrase, start) {
  if (!state.detail) return;
  const reply = $("reply");
  reply.value = (start === null ? reply.value : reply.value.slice(0, start)) + phrase.text;
  state.usedIntent = null;
  hidePopup();
  reply.focus();
  reply.setSelectionRange(reply.value.length, reply.value.length);
}

// Warnings are shown before sending, with "send anyway"; blocking rules never send.
async function send() {
  const text = $("reply").value.trim();
  if (!text || !state.selected || !state.detail) return;
  $("blocked").hidden = true;
  if (!state.confirmed) {
    const check = await api("POST", "/api/guard/check", { text });
    if (check.status === 200 && check.data.blocking.length) { showBlocked(check.data.blocking); return; }
    if (check.status === 200 && check.data.warnings.length) {
      $("warn-text").textContent = `提醒：${check.data.warnings.map((w) => `${w.reason}（规则 ${w.rule}，「${w.matched}」）`).join("；")}`;
      $("warn").hidden = false;
      return;
    }
  }
  $("warn").hidden = true;
  $("send").disabled = true;
  const conversation = state.selected;
  const { status, data } = await api("POST", `/api/conversations/${conversation}/reply`, { text, intent: state.usedIntent });
  $("send").disabled = false;
  if (status === 202) {
    clearReply();
    state.pendingSend = { id: data.client_msg_id, conversation, warnings: data.warnings.map((w) => w.reason).join("；") };
    $("reply-status").textContent = "发送中…";
    await loadDetail();
  } else if (status === 422 && data.error === "blocked") {
    showBlocked(data.violations.filter((v) => v.action === "block"));
  } else {
    $("reply-status").textContent = errorText(status, data);
  }
}

function showBlocked(blocking) {
  const first = blocking[0];
  $("blocked").hidden = false;
  $("blocked").textContent = `未发送：${first.reason}\n规则 ${first.rule}，问题文字「${first.matched}」`;
}

async function search(text) {
  const body = { text, limit: 5 };
  if (state.detail) body.platform = state.detail.platform;
  const { status, data } = await api("POST", "/api/suggest", body);
  renderSuggestions($("search-results"), status === 200 ? data.suggestions : [], false);
}

// --- transfer (转接) -----------------------------------------------------------------------------

async function openTransfer() {
  const form = $("transfer-form");
  form.hidden = !form.hidden;
  if (form.hidden) return;
  const { status, data } = await api("GET", "/api/colleagues");
  const select = $("transfer-to");
  select.replaceChildren();
  select.append(new Option("售前组（自动分给在线的同事）", "group:售前"), new Option("售后组（自动分给在线的同事）", "group:售后"));
  if (status === 200) {
    for (const a of data.items) {
      if (state.me && a.id === state.me.agent) continue;
      select.append(new Option(`${a.name}（${a.status_name}）`, a.id));
    }
  }
  $("transfer-status").textContent = "";
}

async function doTransfer() {
  const body = { to: $("transfer-to").value, note: $("transfer-note").value.trim(), version: state.detail ? state.detail.version : undefined };
  const { status, data } = await api("POST", `/api/conversations/${state.selected}/transfer`, body);
  if (status !== 200) { $("transfer-status").textContent = errorText(status, data); return; }
  $("transfer-form").hidden = true;
  $("transfer-note").value = "";
  const mayStillSee = state.me && state.me.role !== "agent";
  $("chat-notice").textContent = `已转接给 ${data.to_name}`;
  if (!mayStillSee) {
    state.selected = null; state.detail = null;
    $("messages").replaceChildren(); $("deliveries").replaceChildren(); $("transfers").replaceChildren();
    $("suggestions").replaceChildren(); $("context").hidden = true;
    $("chat-title").textContent = "选择一个会话";
    $("reply").disabled = $("send").disabled = true;
    $("open-ticket").hidden = $("open-transfer").hidden = $("end-conversation").hidden = true;
  } else {
    await loadDetail();
  }
  await loadList();
}

// --- ending a conversation (结束会话) ----------------------------------------------------------------

async function endConversation() {
  const { status, data } = await api("POST", `/api/conversations/${state.selected}/end`);
  if (status !== 200) { $("chat-notice").textContent = errorText(status, data); return; }
  $("chat-notice").textContent = "会话已结束" + (data.csat_invited ? "，已邀请买家评价" : "");
  $("end-conversation").hidden = true;
  await loadList();
}

// --- complaint tickets -------------------------------------------------------------------------

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

const ACTORS = { bot: "系统", buyer: "买家", supervisor: "主管", admin: "管理员" };
// The notes the system writes into a ticket's history, in the agent's words.
const NOTES = [
  [/^round-robin → (.+)$/, "轮流分配给 $1"], [/^the buyer complained again$/, "买家再次投诉"],
  [/^asked the buyer \((.+)\)$/, "已向买家发送回访（$1）"], [/^rating (\d): (.*)$/, "买家评分 $1：$2"],
  [/^first agent message to the buyer$/, "客服首次回复买家"], [/^past SLA: (.+)$/, "超过时限：$1"],
  [/^severity (P\d) → (P\d); /, "级别 $1 → $2；"],
];
function noteText(note) {
  return NOTES.reduce((text, [pattern, words]) => text.replace(pattern, words), note)
    .replace("first_response", "首次响应").replace("resolution", "处理完成");
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
    history.append(el("li", "", `${time(h.at, true)} ${ACTORS[h.actor] || h.actor}：${STATE_NAMES[h.from] || h.from || ""}→${STATE_NAMES[h.to] || h.to || ""} ${noteText(h.note || "")}`));
  }
  const actions = $("ticket-actions");
  actions.replaceChildren();
  for (const to of data.allowed) {
    const button = el("button", "", ACTION_NAMES[to] || to);
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
  if (status !== 200) {
    let text = errorText(status, data);
    if (status === 403 && t.owner) text = `这张工单归 ${t.owner} 处理，请找主管`;
    if (status === 400 && data.error === "incomplete_transition") text = "请先填写备注（处理时还要选处理方式）";
    if (data && data.allowed) text += `（现在可以：${data.allowed.map((s) => ACTION_NAMES[s] || s).join("、")}）`;
    $("ticket-error").textContent = text;
    return;
  }
  $("ticket-action-note").value = "";
  await showTicket(t.id);
  await loadTickets();
}

async function openTicket() {
  const body = { conversation_id: state.selected, severity: $("ticket-severity").value,
                 category: $("ticket-category").value, note: $("ticket-note").value.trim() };
  const { status, data } = await api("POST", "/api/tickets", body);
  $("ticket-status").textContent = status === 201 ? `已登记工单 #${data.id}` : status === 200 ? `已并入工单 #${data.id}` : errorText(status, data);
  if (status === 200 || status === 201) { $("ticket-note").value = ""; await loadTickets(); await showTicket(data.id); await loadContext(); }
}

// --- me: status, heartbeat, my figures ------------------------------------------------------------

async function setStatus(value) {
  const { status, data } = await api("PUT", "/api/me/status", { status: value });
  if (status !== 200) { $("chat-notice").textContent = errorText(status, data); return; }
  $("status").value = data.chosen;
  $("status").className = "status-" + data.status;
}

async function heartbeat() {
  if (!state.me || !state.me.agent) return;
  const { status, data } = await api("POST", "/api/me/heartbeat");
  if (status === 200) { $("status").value = data.chosen; $("status").className = "status-" + data.status; }
}

async function loadFigures() {
  if (!state.me || !state.me.agent) return;
  const { status, data } = await api("GET", "/api/me/figures");
  if (status !== 200) return;
  const rows = data.items;
  const sum = (f) => rows.reduce((n, r) => n + (r[f] || 0), 0);
  const responses = sum("responses");
  const avg = responses ? rows.reduce((n, r) => n + (r.avg_response_s || 0) * r.responses, 0) / responses : null;
  const consulting = sum("consulting_buyers"), replied = sum("replied_buyers");
  $("figures").textContent = `今日：接待 ${consulting} · 回复率 ${consulting ? Math.round(replied / consulting * 100) + "%" : "—"} · 响应 ${responses} 次 · 平均 ${avg === null ? "—" : avg.toFixed(1) + " 秒"}`;
}

// --- login, start, the live feed -----------------------------------------------------------------

function logout(message) {
  if (state.session) { state.session = false; csbotSession.logout(); }
  sessionStorage.removeItem("csbot.token");
  state.token = "";
  state.generation += 1;
  state.timers.forEach(clearInterval);
  state.timers = [];
  // Nothing of the previous user stays on screen.
  Object.assign(state, { me: null, selected: null, detail: null, context: null, ticket: null, usedIntent: null,
                         items: [], phrases: [], seen: null, unread: new Set(), pendingSend: null });
  for (const id of ["conversations", "messages", "deliveries", "transfers", "suggestions", "search-results", "tickets",
                    "ticket-history", "ticket-actions", "orders", "buyer-tickets", "earlier", "phrases"]) $(id).replaceChildren();
  $("chat-title").textContent = "选择一个会话";
  $("ticket-detail").hidden = $("ticket-form").hidden = $("open-ticket").hidden = true;
  $("transfer-form").hidden = $("open-transfer").hidden = $("context").hidden = true;
  $("figures").textContent = $("who").textContent = $("chat-notice").textContent = "";
  clearReply();
  $("reply").disabled = $("send").disabled = true;
  $("work").hidden = $("logout").hidden = $("status").hidden = $("show-list").hidden = $("notify").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  document.title = "客服工作台";
}

async function start() {
  const { status, data } = await api("GET", "/api/me").catch(() => ({ status: 0, data: null }));
  if (status !== 200) { if (status) logout(errorText(status, data)); return; }
  state.me = data;
  $("who").textContent = data.name || data.agent || (data.role === "supervisor" ? "主管" : "管理员");
  state.timezone = data.timezone || state.timezone;
  $("login").hidden = true;
  $("work").hidden = $("logout").hidden = $("show-list").hidden = false;
  $("phrase-scope").hidden = data.role === "agent";
  $("notify").hidden = !(window.Notification && Notification.permission === "default");
  follow();  // first: nothing that happens while the rest loads is missed
  if (data.agent) {
    $("status").hidden = false;
    await setStatus(data.status && data.status.chosen !== "offline" ? data.status.chosen : "online");
    state.timers.push(setInterval(() => heartbeat().catch(() => {}), (data.heartbeat_s || 30) * 1000));
  }
  await loadList();
  if (!state.selected) document.body.classList.add("show-list");  // narrow: start from the list
  await loadTickets();
  await loadPhrases();
  await loadFigures();
  // A slow safety net; changes normally arrive on the stream within a second.
  state.timers.push(setInterval(() => { loadList().catch(() => {}); loadTickets().catch(() => {}); }, 10000));
  state.timers.push(setInterval(() => loadFigures().catch(() => {}), 30000));
  state.timers.push(setInterval(tick, 1000));
}

// Server-Sent Events read with fetch(), so that the token travels in the Authorization header.
async function follow() {
  const token = state.token, generation = state.generation;
  while ((state.token || state.session) && state.generation === generation) {
    try {
      const response = await fetch("/api/console/stream", { headers: csbotSession.headers(token) });
      if (response.status === 401) { logout(ERRORS.unauthorized); return; }
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
          // hello: (re)connected, so whatever changed before is fetched once
          if (/^event: (changed|hello)$/m.test(block)) scheduleRefresh();
          if (/^event: transferred$/m.test(block)) {
            const line = block.split("\n").find((l) => l.startsWith("data: "));
            try {
              const t = JSON.parse(line.slice(6));
              $("chat-notice").textContent = `${t.from_name} 把买家 ${t.buyer} 转接给你${t.note ? "：" + t.note : ""}`;
              alertAgent(`${t.from_name} 转接了买家 ${t.buyer}`);
            } catch (e) { /* malformed: just refresh */ }
            scheduleRefresh();
          }
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
  refreshTimer = setTimeout(() => {
    loadList().catch(() => {});
    loadTickets().catch(() => {});
    if (state.selected && state.pendingSend) loadDetail().catch(() => {});
    loadFigures().catch(() => {});
  }, 150);
}

// --- keys ----------------------------------------------------------------------------------------
// 1/2/3 pick a suggestion when no text field has the focus; Alt+1/2/3 anywhere (the reply box too).
// A picked suggestion replaces the reply and the focus stays, so 1 then 2 leaves suggestion 2 only.
// J (Alt+J in a field) opens the next waiting buyer; Enter edits the reply; Esc clears it.
document.addEventListener("keydown", (e) => {
  const typing = ["TEXTAREA", "INPUT", "SELECT"].includes(document.activeElement.tagName);
  const digit = e.code && e.code.startsWith("Digit") ? e.code.slice(5) : e.key;
  if (["1", "2", "3"].includes(digit) && (e.altKey || !typing) && !e.ctrlKey && !e.metaKey) {
    if (!state.detail) return;
    e.preventDefault();
    const s = state.detail.suggestions[Number(digit) - 1];
    if (s) useSuggestion(s);
    return;
  }
  if ((e.key === "j" || e.key === "J" || e.code === "KeyJ") && (e.altKey || !typing) && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    nextWaiting();
    return;
  }
  if (e.key === "Escape") {
    clearReply();
    if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
    return;
  }
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && state.detail) {
    e.preventDefault();
    send();
    return;
  }
  if (e.key === "Enter" && !typing && !["BUTTON", "A", "SUMMARY"].includes(document.activeElement.tagName) && state.detail) {
    e.preventDefault();
    const reply = $("reply");
    reply.focus();
    reply.setSelectionRange(reply.value.length, reply.value.length);
  }
});

$("reply").addEventListener("keydown", (e) => {
  if ($("phrase-popup").hidden) return;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    state.popupIndex = (state.popupIndex + (e.key === "ArrowDown" ? 1 : state.popup.length - 1)) % state.popup.length;
    renderPopup();
  } else if ((e.key === "Enter" && !e.ctrlKey && !e.metaKey) || e.key === "Tab") {
    e.preventDefault();
    e.stopPropagation();
    const item = state.popup[state.popupIndex];
    usePhrase(item.phrase, item.start);
  }
});
$("reply").addEventListener("input", () => {
  $("blocked").hidden = $("warn").hidden = true;
  state.confirmed = false;
  updatePopup();
});
$("reply").addEventListener("blur", () => setTimeout(hidePopup, 150));

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("csbot.token", state.token);
  start();
});
$("logout").addEventListener("click", () => logout());
$("status").addEventListener("change", () => setStatus($("status").value));
$("notify").addEventListener("click", async () => { await Notification.requestPermission(); $("notify").hidden = true; });
$("show-list").addEventListener("click", () => document.body.classList.toggle("show-list"));
$("open-ticket").addEventListener("click", () => { $("ticket-form").hidden = !$("ticket-form").hidden; });
$("open-transfer").addEventListener("click", () => openTransfer());
$("end-conversation").addEventListener("click", () => endConversation());
$("transfer-form").addEventListener("submit", (e) => { e.preventDefault(); doTransfer(); });
$("ticket-form").addEventListener("submit", (e) => { e.preventDefault(); openTicket(); });
$("phrase-form").addEventListener("submit", (e) => { e.preventDefault(); addPhrase(); });
$("earlier-more").addEventListener("click", () => loadContext(true));
for (const id of ["filter-state", "filter-severity", "filter-overdue"]) $(id).addEventListener("change", () => loadTickets());
$("reply-form").addEventListener("submit", (e) => { e.preventDefault(); send(); });
$("send-anyway").addEventListener("click", () => { state.confirmed = true; send(); });
$("warn-cancel").addEventListener("click", () => { $("warn").hidden = true; $("reply").focus(); });
$("search").addEventListener("keydown", (e) => { if (e.key === "Enter") search($("search").value); });
window.addEventListener("focus", () => {
  if (state.selected && state.unread.delete(state.selected)) showUnread();
});
if (state.token) start();
else csbotSession.me().then((me) => { if (me) { state.session = true; start(); } else logout(); });
