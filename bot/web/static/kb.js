// /kb: the knowledge base in the browser. Every text from the server is shown as text (textContent,
// input values), never as HTML.
"use strict";

const TOKEN_KEY = "csbot.kb.token";
const state = { token: sessionStorage.getItem(TOKEN_KEY) || "", base: null, selected: null, kind: "intent",
  isNew: false, moving: null, pending: null, tab: "intents", role: "", session: false };
const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: { ...csbotSession.headers(state.token), "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { message: response.statusText }; }
  if (response.status === 401) { logout(); }
  return { status: response.status, data };
}

// ---- login -------------------------------------------------------------------------------------
async function login(token) {
  state.token = token;
  const me = await api("GET", "/api/me");
  if (me.status !== 200 || me.data.role === "agent") {
    $("login-error").textContent = me.status === 200 ? "需要主管或管理员的 token" : (me.data.message || "登录失败");
    state.token = ""; sessionStorage.removeItem(TOKEN_KEY);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.role = me.data.role;
  $("who").textContent = me.data.role === "admin" ? "管理员" : "主管";
  $("login").hidden = true; $("work").hidden = false; $("tabs").hidden = false; $("logout").hidden = false;
  $("learn-tab").hidden = state.role !== "admin";
  await loadBase();
}

function logout() {
  // Logged in with a user name: the login session itself ends (else a reload would be logged in again).
  if (state.session) { state.session = false; csbotSession.logout(); }
  sessionStorage.removeItem(TOKEN_KEY); state.token = "";
  $("login").hidden = false; $("work").hidden = true; $("tabs").hidden = true; $("logout").hidden = true;
}

// ---- the list ----------------------------------------------------------------------------------
async function loadBase() {
  const r = await api("GET", "/api/kb/base");
  if (r.status !== 200) { banner(r.data.message || "加载失败"); return; }
  state.base = r.data;
  renderList();
  if (state.selected && !state.isNew) {
    const found = tables().find((t) => t.id === state.selected);
    if (found) select(found.id); else $("editor").hidden = true;
  }
}

function tables() {
  if (!state.base) return [];
  return state.kind === "topic" ? state.base.topics : state.base.intents.filter((i) => !i.template);
}

function renderList() {
  const q = $("search").value.trim().toLowerCase();
  const list = $("items");
  list.replaceChildren();
  for (const t of tables()) {
    const hay = [t.id, t.title, ...(t.questions || []), ...((t.replies || []).map((r) => r.text))].join("\n").toLowerCase();
    if (q && !hay.includes(q)) continue;
    const li = el("li");
    li.dataset.id = t.id;
    li.append(el("span", t.title), el("small", `${t.id} · ${t.questions.length} 问`));
    if (t.id === state.selected) li.classList.add("on");
    li.addEventListener("click", () => select(t.id));
    list.append(li);
  }
}

// ---- the editor --------------------------------------------------------------------------------
function select(id) {
  const t = tables().find((x) => x.id === id);
  if (!t) return;
  state.selected = id; state.isNew = false;
  fillEditor(t);
  renderList();
}

function fillEditor(t) {
  clearErrors(); $("impact").hidden = true; $("banner").hidden = true; $("status").textContent = "";
  $("editor").hidden = false;
  $("f-id").value = t.id; $("f-id").readOnly = !state.isNew;
  $("f-file").textContent = t.file || "";
  $("f-title").value = t.title || "";
  $("f-questions").replaceChildren();
  for (const q of t.questions || []) addQuestionRow(q);
  $("f-replies").replaceChildren();
  for (const r of t.replies || []) addReplyRow(r);
  $("replies-block").hidden = state.kind === "topic";
  $("retire").hidden = state.isNew;
  $("move-bar").hidden = true;
  countQuestions();
}

function addQuestionRow(text) {
  const li = el("li");
  const input = el("input"); input.value = text; input.className = "question";
  const remove = el("button", "删除"); remove.type = "button";
  remove.addEventListener("click", () => { li.remove(); countQuestions(); });
  const move = el("button", "移动"); move.type = "button"; move.hidden = state.isNew;
  move.addEventListener("click", () => startMove(input.value));
  li.append(input, remove, move, el("p", "", "field-error"));
  $("f-questions").append(li);
}

function addReplyRow(reply) {
  const li = el("li");
  const platform = el("select"); platform.className = "platform";
  for (const [value, label] of [["", "通用"], ["wangwang", "旺旺 (淘宝/天猫)"], ["dongdong", "咚咚 (京东)"]]) {
    const option = el("option", label); option.value = value; platform.append(option);
  }
  platform.value = reply.platform || "";
  const text = el("textarea"); text.rows = 2; text.value = reply.text || ""; text.className = "reply-text";
  const remove = el("button", "删除"); remove.type = "button";
  remove.addEventListener("click", () => li.remove());
  li.append(platform, text, remove, el("p", "", "field-error"));
  $("f-replies").append(li);
}

function countQuestions() { $("q-count").textContent = `(${$("f-questions").children.length})`; }

function formBody() {
  const questions = [...$("f-questions").querySelectorAll("input.question")].map((i) => i.value);
  const replies = [...$("f-replies").children].map((li) => ({
    platform: li.querySelector(".platform").value || null, text: li.querySelector(".reply-text").value }));
  const body = { title: $("f-title").value, questions, versions: state.base.versions };
  if (state.kind === "intent") body.replies = replies;
  return body;
}

function clearErrors() {
  for (const p of document.querySelectorAll(".field-error")) p.textContent = "";
  for (const n of document.querySelectorAll(".invalid")) n.classList.remove("invalid");
}

function showProblems(problems) {
  clearErrors();
  for (const p of problems || []) {
    const f = p.field || "_base";
    let target = null, input = null;
    const parts = f.split(".");
    if (parts[0] === "questions" && parts.length > 1) {
      const li = $("f-questions").children[Number(parts[1])];
      if (li) { target = li.querySelector(".field-error"); input = li.querySelector("input"); }
    } else if (parts[0] === "replies" && parts.length > 1) {
      const li = $("f-replies").children[Number(parts[1])];
      if (li) { target = li.querySelector(".field-error"); input = li.querySelector("textarea"); }
    } else if (["id", "title", "questions", "replies"].includes(parts[0])) {
      target = document.querySelector(`[data-error="${parts[0]}"]`);
      input = document.querySelector(`[data-field="${parts[0]}"]`);
    }
    if (!target) target = document.querySelector('[data-error="_base"]');
    target.textContent = (target.textContent ? target.textContent + "；" : "") + p.message;
    if (input) input.classList.add("invalid");
  }
}

function banner(text) { $("banner").textContent = text; $("banner").hidden = !text; }

function pct(v) { return v === null || v === undefined ? "n/a" : (v * 100).toFixed(1) + "%"; }

function showImpact(impact, needsConfirm) {
  $("impact").hidden = false;
  const rows = $("impact-rows"); rows.replaceChildren();
  for (const s of impact.sets) {
    const tr = el("tr");
    tr.append(el("td", `${s.set} (${s.n})`));
    for (const figure of ["top1", "top3", "oos_rejected"]) {
      const before = s.before[figure], after = s.after[figure];
      const a = el("td", pct(after));
      if (before !== null && after !== null && after < before) a.className = "down";
      if (before !== null && after !== null && after > before) a.className = "up";
      tr.append(el("td", pct(before)), a);
    }
    rows.append(tr);
  }
  const confusions = $("impact-confusions"); confusions.replaceChildren();
  for (const c of impact.confusions_changed || []) confusions.append(el("li", `${c.pair}: ${c.before} → ${c.after}`));
  $("impact-warning").hidden = !needsConfirm;
  $("impact-warning").textContent = needsConfirm ? `此修改使指标下降超过 ${impact.margin}，确认后才会应用` : "";
  $("confirm").hidden = !needsConfirm;
}

// One save path for every change: field errors, 409 conflict, confirm, then the figures.
async function submit(method, path, body, after) {
  $("status").textContent = "评估中…";
  const r = await api(method, path, body);
  if (r.status === 200 && r.data.applied === false && r.data.impact) {
    $("status").textContent = "未保存（仅评估）"; showImpact(r.data.impact, r.data.impact.needs_confirm); return r;
  }
  if (r.status === 200) {
    state.pending = null;
    await loadBase(); if (after) after(r);
    clearErrors(); $("status").textContent = "已保存";
    if (r.data.impact) showImpact(r.data.impact, false);
    return r;
  }
  $("status").textContent = "";
  if (r.status === 422) { showProblems(r.data.problems || [{ field: null, message: r.data.message }]); }
  else if (r.status === 409 && r.data.error === "confirm_needed") {
    state.pending = { method, path, body: { ...body, confirm: true }, after };
    showImpact(r.data.impact, true);
  } else if (r.status === 409) {
    const who = r.data.change ? `（${r.data.change.who} 于 ${r.data.change.at}：${r.data.change.summary}）` : "";
    banner(`${r.data.message || "文件已被修改"}${who}。请点击重新加载后再修改。`);
    const reload = el("button", "重新加载"); reload.type = "button";
    reload.addEventListener("click", async () => { banner(""); await loadBase(); });
    $("banner").append(" ", reload);
  } else { banner(r.data.message || `出错了 (${r.status})`); }
  return r;
}

async function save(event) {
  event.preventDefault();
  const body = formBody();
  if (state.isNew) {
    body.id = $("f-id").value.trim();
    await submit("POST", state.kind === "topic" ? "/api/kb/topics" : "/api/kb/intents", body, () => {
      state.isNew = false; state.selected = body.id; select(body.id); });
  } else {
    const path = `/api/kb/${state.kind === "topic" ? "topics" : "intents"}/${encodeURIComponent(state.selected)}`;
    await submit("PUT", path, body);
  }
}

async function check() {
  const body = { ...formBody(), dry_run: true };
  if (state.isNew) { body.id = $("f-id").value.trim(); }
  const path = state.isNew ? (state.kind === "topic" ? "/api/kb/topics" : "/api/kb/intents")
    : `/api/kb/${state.kind === "topic" ? "topics" : "intents"}/${encodeURIComponent(state.selected)}`;
  await submit(state.isNew ? "POST" : "PUT", path, body);
}

function startMove(question) {
  state.moving = question;
  $("move-what").textContent = `「${question}」`;
  const select = $("move-to"); select.replaceChildren();
  for (const t of [...state.base.intents.filter((i) => !i.template), ...state.base.topics]) {
    if (t.id === state.selected) continue;
    const option = el("option", `${t.title} (${t.id})`); option.value = t.id; select.append(option);
  }
  $("move-bar").hidden = false;
}

// ---- history -----------------------------------------------------------------------------------
async function loadHistory() {
  const r = await api("GET", "/api/kb/changes?limit=100");
  const list = $("history"); list.replaceChildren();
  for (const c of r.data.items || []) {
    const li = el("li");
    li.dataset.id = c.id;
    li.append(el("span", `${c.at} · ${c.who} · ${c.summary}${c.confirmed ? " (已确认指标下降)" : ""}`));
    if (c.impact && c.impact.sets) {
      const figures = c.impact.sets.map((s) => `${s.set} top-1 ${pct(s.before.top1)}→${pct(s.after.top1)}`).join("；");
      li.append(el("small", " " + figures));
    }
    if (c.undone_by) li.append(el("em", ` 已撤销 (#${c.undone_by})`));
    else {
      const undo = el("button", "撤销"); undo.type = "button"; undo.className = "undo";
      undo.addEventListener("click", async () => {
        const done = await api("POST", `/api/kb/changes/${c.id}/undo`, {});
        let result = done;
        if (done.status === 409 && done.data.error === "confirm_needed" && confirm(done.data.message)) {
          result = await api("POST", `/api/kb/changes/${c.id}/undo`, { confirm: true });
        }
        $("status").textContent = result.status === 200 ? "已撤销" : (result.data.message || "撤销失败");
        await loadBase(); await loadHistory();
      });
      li.append(" ", undo);
    }
    list.append(li);
  }
}

// ---- kb stats: save an agent's rewrite as the reply --------------------------------------------
async function loadStats() {
  const r = await api("GET", "/api/kb/stats");
  const list = $("stats"); list.replaceChildren();
  for (const s of r.data.items || []) {
    const li = el("li");
    li.append(el("strong", `${s.title} (${s.intent})`),
      el("span", ` 展示 ${s.shown} · 采用 ${s.used} · 修改 ${s.edited} · 忽略 ${s.ignored}`));
    const ul = el("ul");
    for (const text of s.examples) {
      const item = el("li"); item.append(el("span", text));
      const keep = el("button", "存为话术"); keep.type = "button"; keep.className = "save-reply";
      keep.addEventListener("click", async () => {
        state.kind = "intent"; state.selected = s.intent; showTab("intents"); select(s.intent);
        await submit("POST", `/api/kb/intents/${encodeURIComponent(s.intent)}/reply`,
          { text, platform: null, versions: state.base.versions });
      });
      item.append(" ", keep); ul.append(item);
    }
    li.append(ul); list.append(li);
  }
}

// ---- learning ----------------------------------------------------------------------------------
async function loadGroups() {
  const from = $("learn-from").value, to = $("learn-to").value;
  const query = new URLSearchParams(); if (from) query.set("from", from); if (to) query.set("to", to);
  $("learn-status").textContent = "分组中…";
  const r = await api("GET", "/api/kb/learn?" + query.toString());
  $("learn-status").textContent = r.status === 200 ? `${r.data.total} 组` : (r.data.message || "出错了");
  const list = $("groups"); list.replaceChildren();
  for (const g of r.data.items || []) list.append(groupCard(g));
}

function intentOptions(select, ids) {
  for (const t of ids) { const o = el("option", `${t.title} (${t.id})`); o.value = t.id; select.append(o); }
}

function groupCard(g) {
  const li = el("li", null, "group");
  li.dataset.key = g.key;
  li.append(el("strong", `${g.size} 条`), el("div", "例：" + g.examples.join(" ／ ")));
  li.append(el("div", "最接近：" + g.closest_intents.map((c) => `${c.title} (${c.intent}) ${c.score}`).join("，")));
  li.append(el("div", "坐席回复：" + g.agent_replies.map((a) => `「${a.text}」×${a.count}`).join(" ")));
  const ids = g.messages.map((m) => m.id);
  const status = el("span", "", "group-status");
  const pick = el("select"); pick.className = "into";
  intentOptions(pick, state.base.intents.filter((i) => !i.template));
  if (g.closest_intents.length) pick.value = g.closest_intents[0].intent;
  const into = el("button", "加入意图"); into.type = "button"; into.className = "accept-intent";
  into.addEventListener("click", () => accept({ message_ids: ids, action: "intent", intent: pick.value }, li, status));
  const topic = el("select"); topic.className = "topic"; intentOptions(topic, state.base.topics);
  const off = el("button", "标为无关"); off.type = "button";
  off.addEventListener("click", () => accept({ message_ids: ids, action: "off_topic", intent: topic.value }, li, status));
  const newId = el("input"); newId.placeholder = "新意图 id (group.name)"; newId.className = "new-id";
  const newTitle = el("input"); newTitle.placeholder = "标题";
  const create = el("button", "新建意图"); create.type = "button";
  create.addEventListener("click", () => accept({ message_ids: ids, action: "new_intent", id: newId.value.trim(),
    title: newTitle.value, reply: g.agent_replies.length ? g.agent_replies[0].text : "" }, li, status));
  const row1 = el("div", null, "row"); row1.append(pick, into, topic, off);
  const row2 = el("div", null, "row"); row2.append(newId, newTitle, create);
  li.append(row1, row2, status);
  return li;
}

async function accept(body, li, status, confirmed) {
  status.textContent = "评估中…";
  const r = await api("POST", "/api/kb/learn/accept", confirmed ? { ...body, confirm: true } : body);
  if (r.status === 200 && r.data.applied === false) { status.textContent = "已不存在（消息已被清理）"; li.classList.add("gone"); return; }
  if (r.status === 200) {
    const s = r.data.impact.sets.map((x) => `${x.set} top-1 ${pct(x.before.top1)}→${pct(x.after.top1)}`).join("；");
    status.textContent = "已学习 " + s + (r.data.gone && r.data.gone.length ? `（${r.data.gone.length} 条已不存在）` : "");
    await loadBase(); return;
  }
  if (r.status === 409 && r.data.error === "confirm_needed") {
    status.textContent = r.data.message;
    const go = el("button", "仍然应用"); go.type = "button";
    go.addEventListener("click", () => accept(body, li, status, true));
    status.append(" ", go); return;
  }
  status.textContent = (r.data.problems || []).map((p) => p.message).join("；") || r.data.message || "出错了";
}

// ---- tabs and wiring ---------------------------------------------------------------------------
function showTab(tab) {
  state.tab = tab;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("on", b.dataset.tab === tab);
  const editing = tab === "intents" || tab === "topics";
  $("list-pane").hidden = !editing; $("editor-pane").hidden = !editing;
  $("history-pane").hidden = tab !== "history"; $("stats-pane").hidden = tab !== "stats"; $("learn-pane").hidden = tab !== "learn";
  if (editing) {
    const kind = tab === "topics" ? "topic" : "intent";
    if (kind !== state.kind) { state.kind = kind; state.selected = null; $("editor").hidden = true; }
    $("new-intent").textContent = kind === "topic" ? "＋ 新话题" : "＋ 新意图";
    renderList();
  }
  if (tab === "history") loadHistory();
  if (tab === "stats") loadStats();
}

$("login").addEventListener("submit", (e) => { e.preventDefault(); login($("token").value.trim()); });
$("logout").addEventListener("click", logout);
$("search").addEventListener("input", renderList);
$("editor").addEventListener("submit", save);
$("check").addEventListener("click", check);
$("add-question").addEventListener("click", () => {
  const q = $("new-question").value.trim(); if (!q) return;
  addQuestionRow(q); $("new-question").value = ""; countQuestions();
});
$("new-question").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); $("add-question").click(); } });
$("add-reply").addEventListener("click", () => addReplyRow({ platform: null, text: "" }));
$("confirm").addEventListener("click", async () => {
  if (!state.pending) return;
  const p = state.pending; state.pending = null; $("confirm").hidden = true;
  await submit(p.method, p.path, p.body, p.after);
});
$("retire").addEventListener("click", async () => {
  if (!confirm(`停用 ${state.selected}？可以在修改记录中撤销。`)) return;
  const path = `/api/kb/intents/${encodeURIComponent(state.selected)}/retire`;
  await submit("POST", path, { versions: state.base.versions }, () => { state.selected = null; $("editor").hidden = true; });
});
$("move-go").addEventListener("click", async () => {
  await submit("POST", "/api/kb/questions/move", { question: state.moving, from: state.selected, to: $("move-to").value,
    versions: state.base.versions });
  $("move-bar").hidden = true;
});
$("move-cancel").addEventListener("click", () => { $("move-bar").hidden = true; });
$("new-intent").addEventListener("click", () => {
  state.isNew = true; state.selected = null; renderList();
  fillEditor({ id: "", title: "", questions: [], replies: state.kind === "intent" ? [{ platform: null, text: "" }] : [] });
});
$("learn-load").addEventListener("click", loadGroups);
for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
if (state.token) login(state.token);
else csbotSession.me().then((me) => { if (me) { state.session = true; login(""); } });  // the login session, if there is one
