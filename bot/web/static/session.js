// The login session shared by the pages: a page that has no pasted token works from the session cookie
// (set by /login; HttpOnly, so never read here) and sends the session's CSRF token with every change.
"use strict";
window.csbotSession = {
  csrf() {
    const m = document.cookie.match(/(?:^|;\s*)csbot_csrf=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  },
  // The headers of an API call: the pasted token if there is one, else the session's CSRF token.
  headers(token) {
    return token ? { Authorization: "Bearer " + token } : { "X-CSRF-Token": this.csrf() };
  },
  // GET /api/me with the cookie: the logged-in user, or null.
  async me() {
    try {
      const resp = await fetch("/api/me");
      return resp.ok ? await resp.json() : null;
    } catch (e) { return null; }
  },
  async logout() {
    await fetch("/api/logout", { method: "POST", headers: this.headers("") }).catch(() => {});
    location.href = "/login?next=" + encodeURIComponent(location.pathname);
  },
  loginUrl() { return "/login?next=" + encodeURIComponent(location.pathname); },
};
