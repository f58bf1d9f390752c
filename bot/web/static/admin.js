// /admin: staff users, shifts and API tokens, changed without a restart. Works from the login session.
// Everything typed by people is set with textContent or input values, never as HTML.
"use strict";
const $ = (id) => document.getElementById(id);
const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

async function api(method, path, body) {
  const resp = await fetch(path, {
    method, headers: { ...csbotSession.headers(""), ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await resp.json().catch(() => null);
  if (resp.status === 401) { location.href = csbotSession.loginUrl(); throw new Error("401"); }
  $("error").textContent = resp.ok ? "" : (data && data.message) || `失败（${resp.status}）`;
  return { ok: resp.ok, status: resp.status, data };
}

function cell(row, content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.appendChild(content); else td.textContent = content ?? "";
  row.appendChild(td);
  return td;
}
function input(value, readOnly) {
  const i = document.createElement("input");
  i.value = value; i.readOnly = readOnly;
  return i;
}
function button(text, onClick) {
  const b = document.createElement("button");
  b.type = "button"; b.textContent = text; b.addEventListener("click", onClick);
  return b;
}

async function load() {
  const { ok, data } = await api("GET", "/api/admin/staff");
  if (!ok) return;
  const tbody = $("users").tBodies[0];
  tbody.replaceChildren();
  for (const u of data.users) {
    const tr = document.createElement("tr");
    tr.dataset.user = u.user;
    const fromFile = u.declared_in_file;
    const agent = data.agents.find((a) => a.id === u.user);
    cell(tr, u.user + (fromFile ? "（文件声明）" : ""));
    const name = input(agent && fromFile ? agent.name : u.name, fromFile); cell(tr, name);
    const role = document.createElement("select");
    for (const r of ["agent", "supervisor", "admin"]) role.add(new Option(r, r, false, r === u.role));
    cell(tr, role);
    const accounts = input((fromFile && agent ? agent.accounts : u.accounts).join(", "), fromFile); cell(tr, accounts);
    const groups = input((fromFile && agent ? agent.groups : u.groups).join(", "), fromFile); cell(tr, groups);
    const disabled = document.createElement("input"); disabled.type = "checkbox"; disabled.checked = u.disabled;
    cell(tr, disabled);
    const actions = cell(tr, button("保存", async () => {
      const body = { role: role.value, disabled: disabled.checked };
      if (!fromFile) Object.assign(body, { name: name.value, accounts: list(accounts.value), groups: list(groups.value) });
      if ((await api("PUT", "/api/admin/users/" + encodeURIComponent(u.user), body)).ok) load();
    }));
    actions.appendChild(button("设置密码", async () => {
      const password = prompt(`${u.user} 的新密码（至少 8 位）`);
      if (password) await api("PUT", "/api/admin/users/" + encodeURIComponent(u.user), { password });
    }));
    tbody.appendChild(tr);
  }
  const agents = $("agents").tBodies[0];
  agents.replaceChildren();
  const logins = new Set(data.users.map((u) => u.user));
  for (const a of data.agents) {
    const tr = document.createElement("tr");
    tr.dataset.agent = a.id;
    cell(tr, a.id); cell(tr, a.name); cell(tr, a.accounts.join(", ")); cell(tr, a.groups.join(", "));
    cell(tr, a.declared_in_file ? "配置文件（只读）" : "本页添加");
    if (logins.has(a.id)) cell(tr, "已开通");
    else cell(tr, button("开通登录", () => {  // a user with the agent's id logs in as that agent
      $("new-user").value = a.id; $("new-role").value = "agent"; $("new-password").focus();
    }));
    agents.appendChild(tr);
  }
  const shifts = $("shifts").tBodies[0];
  shifts.replaceChildren();
  for (const s of data.shifts) {
    const tr = document.createElement("tr");
    cell(tr, s.name + (s.declared_in_file ? "（文件声明，只读）" : ""));
    cell(tr, s.start); cell(tr, s.end); cell(tr, s.agents.join(", "));
    const td = cell(tr, "");
    if (!s.declared_in_file) {
      td.appendChild(button("编辑", () => {
        $("shift-name").value = s.name; $("shift-start").value = s.start; $("shift-end").value = s.end;
        $("shift-agents").value = s.agents.join(", ");
      }));
      td.appendChild(button("删除", async () => {
        if ((await api("DELETE", "/api/admin/shifts/" + encodeURIComponent(s.name))).ok) load();
      }));
    }
    shifts.appendChild(tr);
  }
  await loadTokens();
  await loadFailures();
}

async function loadTokens() {
  const { ok, data } = await api("GET", "/api/admin/tokens");
  if (!ok) return;
  const tbody = $("tokens").tBodies[0];
  tbody.replaceChildren();
  for (const t of data.items) {
    const tr = document.createElement("tr");
    cell(tr, String(t.id)); cell(tr, t.label); cell(tr, t.role); cell(tr, t.agent || "");
    cell(tr, t.expires_at); cell(tr, t.revoked_at ? "已撤销 " + t.revoked_at : "有效");
    const td = cell(tr, "");
    if (!t.revoked_at) td.appendChild(button("撤销", async () => {
      if ((await api("POST", `/api/admin/tokens/${t.id}/revoke`)).ok) loadTokens();
    }));
    tbody.appendChild(tr);
  }
}

// Pushes set aside and consumers' failures (issue 14): listed with their reason, replayed on request.
async function loadFailures() {
  const { ok, data } = await api("GET", "/api/pushes/failed");
  if (!ok) return;
  const pushes = $("set-aside").tBodies[0];
  pushes.replaceChildren();
  for (const p of data.items) {
    const tr = document.createElement("tr");
    tr.dataset.push = p.push_id;
    cell(tr, p.set_aside_at); cell(tr, p.platform); cell(tr, p.push_id); cell(tr, String(p.attempts)); cell(tr, p.error);
    cell(tr, button("重试", () => retry({ push_ids: [p.push_id] })));
    pushes.appendChild(tr);
  }
  const consumers = $("consumer-failures").tBodies[0];
  consumers.replaceChildren();
  for (const f of data.consumer_failures.items) {
    const tr = document.createElement("tr");
    tr.dataset.push = f.push_id; tr.dataset.consumer = f.consumer;
    cell(tr, f.failed_at); cell(tr, f.platform); cell(tr, f.push_id); cell(tr, f.consumer);
    cell(tr, String(f.attempts)); cell(tr, f.error);
    cell(tr, f.replay_asked ? "等待重试" : button("重试", () => retry({ push_ids: [f.push_id], consumer: f.consumer })));
    consumers.appendChild(tr);
  }
  $("retry-all").disabled = !data.items.length && !data.consumer_failures.items.length;
}

async function retry(body) {
  const { ok, data } = await api("POST", "/api/pushes/retry", body);
  if (ok) $("retry-result").textContent = `已放回 ${data.pushes} 条推送，${data.consumer_failures} 个环节待重试`;
  setTimeout(loadFailures, 1000);  // the bot processes them in the background
  loadFailures();
}

$("add-user").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { user: $("new-user").value.trim(), name: $("new-name").value.trim(), role: $("new-role").value,
                 accounts: list($("new-accounts").value), groups: list($("new-groups").value),
                 password: $("new-password").value };
  if ((await api("POST", "/api/admin/users", body)).ok) { $("add-user").reset(); load(); }
});
$("put-shift").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { start: $("shift-start").value.trim(), end: $("shift-end").value.trim(), agents: list($("shift-agents").value) };
  if ((await api("PUT", "/api/admin/shifts/" + encodeURIComponent($("shift-name").value.trim()), body)).ok) {
    $("put-shift").reset(); load();
  }
});
$("add-token").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { label: $("token-label").value.trim(), role: $("token-role").value,
                 agent: $("token-agent").value.trim() || null, expires_days: Number($("token-days").value) };
  const { ok, data } = await api("POST", "/api/admin/tokens", body);
  if (ok) {
    $("token-once").hidden = false;
    $("token-once").textContent = "新令牌（只显示这一次，请现在复制）：" + data.token;
    loadTokens();
  }
});
$("retry-all").addEventListener("click", () => retry({ all: true }));
$("logout").addEventListener("click", () => csbotSession.logout());

(async () => {
  const me = await csbotSession.me();
  if (!me) { location.href = csbotSession.loginUrl(); return; }
  $("who").textContent = me.name || me.user || me.role;
  load();
})();
