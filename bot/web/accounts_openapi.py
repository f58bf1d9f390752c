"""The OpenAPI paths of staff accounts (bot.web.login, bot.web.admin), merged into bot.web.openapi.

With the login cookie instead of a bearer token, every POST, PUT and DELETE also needs the session's
CSRF token in the X-CSRF-Token header (403 `csrf_missing` without it)."""

# The login cookie, the other way to call the API (a person on the pages; bearer tokens are for programs).
SESSION = {"type": "apiKey", "in": "cookie", "name": "csbot_session"}
_ERR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_TIME = {"type": "string", "format": "date-time"}
_STRINGS = {"type": "array", "items": {"type": "string"}}
# What a request may put in accounts, groups and a shift's agents: each with something besides spaces, no comma.
_NAMES = {"type": "array", "items": {"type": "string", "pattern": "^[^,]*[^,\\s][^,]*$"}}
_ROLE = {"type": "string", "enum": ["agent", "supervisor", "admin"]}
_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _obj(properties: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": properties, "required": required or list(properties)}


def _body(properties: dict, required: list[str]) -> dict:
    return {"required": True, **_json({"type": "object", "properties": properties, "required": required})}


def _r(**codes: object) -> dict:
    """Responses: a description, or (description, schema) for a JSON answer; errors carry the Error body."""
    out = {}
    for code, answer in codes.items():
        status = code.removeprefix("s")
        if isinstance(answer, tuple):
            out[status] = {"description": answer[0], **_json(answer[1])}
        else:
            out[status] = {"description": answer, **(_ERR if status >= "400" else {})}
    out.setdefault("401", {"description": "not logged in, or a wrong, expired or revoked credential (`unauthorized`, "
                                          "one message whichever it was)", **_ERR})
    out.setdefault("403", {"description": "`forbidden` (not an admin) or `csrf_missing` (a change made with the "
                                          "login cookie without X-CSRF-Token)", **_ERR})
    return out


_USER = _obj({"user": {"type": "string"}, "name": {"type": "string"}, "role": _ROLE, "disabled": {"type": "boolean"},
              "accounts": _STRINGS, "groups": _STRINGS, "has_password": {"type": "boolean"},
              "declared_in_file": {"type": "boolean"}})
_SHIFT = _obj({"name": {"type": "string"}, "start": {"type": "string"}, "end": {"type": "string"}, "agents": _STRINGS,
               "declared_in_file": {"type": "boolean"}})
_TOKEN = _obj({"id": {"type": "integer"}, "label": {"type": "string"}, "role": _ROLE,
               "agent": {"type": ["string", "null"]}, "created_by": {"type": "string"}, "created_at": _TIME,
               "expires_at": _TIME, "revoked_at": {"oneOf": [_TIME, {"type": "null"}]}})
_USER_PATH = {"name": "user", "in": "path", "required": True, "schema": {"type": "string"}}
_SHIFT_PATH = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_HHMM = {"type": "string", "pattern": "^((0[0-9]|1[0-9]|2[0-3]):[0-5][0-9]|24:00)$"}

PATHS = {
    "/login": {"get": {"summary": "The login page (user name and password)", "security": [],
                       "responses": {"200": {"description": "the page", **_HTML}}}},
    "/admin": {"get": {"summary": "The admins' page: users, shifts, API tokens (its data needs an admin's login)",
                       "security": [], "responses": {"200": {"description": "the page", **_HTML}}}},
    "/api/login": {"post": {
        "summary": "Log in: sets the session cookie (csbot_session: HttpOnly, SameSite=Lax) and its CSRF token "
                   "(csbot_csrf, also in the answer). `next`: one of the bot's own pages to go to",
        "security": [],
        "requestBody": _body({"user": {"type": "string", "minLength": 1, "maxLength": 100}, "password": {"type": "string"},
                              "next": {"type": "string"}}, ["user", "password"]),
        "responses": {
            "200": {"description": "logged in", **_json(_obj({"user": {"type": "string"}, "role": _ROLE,
                                                              "next": {"type": "string"}, "csrf": {"type": "string"}}))},
            "400": {"description": "`bad_request`: not JSON with user and password", **_ERR},
            "401": {"description": "`unauthorized`: wrong password, unknown user or disabled account (one message)", **_ERR},
            "429": {"description": "`locked_out`: too many failed logins for this user name or from this address; "
                                   "the Retry-After header says when to try again", **_ERR,
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
        }}},
    "/api/logout": {"post": {
        "summary": "End the session (and its open streams); needs X-CSRF-Token",
        "responses": _r(s200=("logged out", _obj({"ok": {"type": "boolean"}})))}},
    "/api/admin/staff": {"get": {
        "summary": "Users, the agents in service (the file's and those added here), the shifts, and what the "
                   "configuration file declares (read-only here: the file wins)",
        "responses": _r(s200=("the staff", _obj({
            "users": {"type": "array", "items": _USER},
            "agents": {"type": "array", "items": _obj({"id": {"type": "string"}, "name": {"type": "string"},
                                                       "accounts": _STRINGS, "groups": _STRINGS,
                                                       "declared_in_file": {"type": "boolean"}})},
            "shifts": {"type": "array", "items": _SHIFT},
            "declared": _obj({"agents": _STRINGS, "shifts": _STRINGS})})))}},
    "/api/admin/users": {"post": {
        "summary": "Add a user (a login; with accounts or groups also an agent), in service at once",
        "requestBody": _body({"user": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,40}$"},
                              "password": {"type": "string", "minLength": 8}, "role": _ROLE,
                              "name": {"type": "string", "maxLength": 100}, "accounts": _NAMES, "groups": _NAMES},
                             ["user", "password"]),
        "responses": _r(s201=("the user", _USER), s400="`bad_request`, `weak_password`",
                        s409="`user_exists`, `declared_in_file`",
                        s422="`invalid_roster`: e.g. an account that belongs to another agent")}},
    "/api/admin/users/{user}": {"put": {
        "summary": "Change a user: name, role, accounts, groups, disabled, password. Disabling, a new role or a new "
                   "password ends their sessions and their open streams",
        "parameters": [_USER_PATH],
        "requestBody": _body({"name": {"type": "string", "maxLength": 100}, "role": _ROLE, "accounts": _NAMES,
                              "groups": _NAMES, "disabled": {"type": "boolean"},
                              "password": {"type": "string", "minLength": 8}}, []),
        "responses": _r(s200=("the user", _USER), s400="`bad_request`, `weak_password`", s404="`not_found`",
                        s409="`declared_in_file` (name, accounts, groups of an agent the file declares), "
                             "`own_account` (an admin disabling or demoting themself)",
                        s422="`invalid_roster`")}},
    "/api/admin/shifts/{name}": {
        "put": {"summary": "Add or change a shift (one the file declares is read-only)",
                "parameters": [_SHIFT_PATH],
                "requestBody": _body({"start": _HHMM, "end": _HHMM, "agents": _NAMES}, ["start", "end"]),
                "responses": _r(s200=("the shift", _SHIFT),
                                s400="`bad_request`: a time that is not HH:MM; `bad_shift` (starts when it ends); "
                                     "`unknown_agent`: an id that names no agent",
                                s409="`declared_in_file`")},
        "delete": {"summary": "Remove a shift added here", "parameters": [_SHIFT_PATH],
                   "responses": _r(s200=("removed", _obj({"deleted": {"type": "string"}})), s404="`not_found`",
                                   s409="`declared_in_file`")}},
    "/api/admin/tokens": {
        "get": {"summary": "The API tokens made here (never the tokens themselves)",
                "responses": _r(s200=("the tokens", _obj({"items": {"type": "array", "items": _TOKEN}})))},
        "post": {"summary": "Make an API token for a program; the answer is the only time it is shown",
                 "requestBody": _body({"label": {"type": "string", "maxLength": 100}, "role": _ROLE,
                                       "agent": {"type": ["string", "null"]},
                                       "expires_days": {"type": "number", "exclusiveMinimum": 0, "maximum": 366}},
                                      ["role", "expires_days"]),
                 "responses": _r(s201=("the token", {**_TOKEN, "properties": {**_TOKEN["properties"],
                                                                              "token": {"type": "string"}},
                                                     "required": [*_TOKEN["required"], "token"]}),
                                 s400="`bad_request`; `unknown_agent`: an agent id that names no agent, or none for "
                                      "role agent")}},
    "/api/admin/tokens/{id}/revoke": {"post": {
        "summary": "Revoke a token: it is refused (401) from now on",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
        "responses": _r(s200=("revoked", _obj({"revoked": {"type": "integer"}})),
                        s404="`not_found`: no such token, or revoked already")}},
}
