// /login: user name and password → the session cookie, then the page asked for (or the role's own).
"use strict";
const form = document.getElementById("login-form");
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const next = new URLSearchParams(location.search).get("next") || "";
  const resp = await fetch("/api/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: document.getElementById("user").value.trim(),
                           password: document.getElementById("password").value, next }),
  }).catch(() => null);
  if (!resp) { error.textContent = "连不上服务器，请稍后再试"; return; }
  const data = await resp.json().catch(() => ({}));
  if (resp.ok) { location.href = data.next; return; }
  document.getElementById("password").value = "";
  if (resp.status === 429) {
    error.textContent = `失败次数太多，请 ${resp.headers.get("Retry-After") || "稍后"} 秒后再试`;
  } else if (resp.status === 401) {
    error.textContent = "用户名或密码错误";
  } else {
    error.textContent = `登录没有成功（${resp.status}）`;
  }
});
