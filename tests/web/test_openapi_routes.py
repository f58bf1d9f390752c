"""The OpenAPI document describes every route the app serves, each method, with its responses; a route
added without being described fails here."""

from __future__ import annotations

import pytest
from aiohttp import web

from bot.web.openapi import OPENAPI

METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH"}


def served(app: web.Application) -> set[tuple[str, str]]:
    routes = set()
    for resource in app.router.resources():
        path = resource.canonical
        if isinstance(resource, web.StaticResource):
            path += "/{filename}"
        for route in resource:
            if route.method in METHODS:
                routes.add((route.method.lower(), path))
    return routes


def described() -> set[tuple[str, str]]:
    return {(method, path) for path, item in OPENAPI["paths"].items() for method in item if method in
            {m.lower() for m in METHODS}}


def test_every_served_route_is_described_and_nothing_else(config, clock, make_app):
    app = make_app(config, clock)
    missing = served(app) - described()
    assert not missing, f"served but not in bot/web/openapi.py: {sorted(missing)}"
    stale = described() - served(app)
    assert not stale, f"described but not served: {sorted(stale)}"


def test_every_operation_has_json_schemas_for_its_bodies_and_statuses():
    for path, item in OPENAPI["paths"].items():
        for method, op in item.items():
            assert op["responses"], (method, path)
            for status, response in op["responses"].items():
                assert status.isdigit(), (method, path, status)
                assert response.get("content"), f"{method} {path} {status}: no content schema"
            body = op.get("requestBody")
            if body:
                assert all("schema" in c for c in body["content"].values()), (method, path)


async def test_what_schemathesis_found_stays_fixed(client):
    """scripts/schemathesis found these: a non-string agent or owner was a 500, and a 405 had no Allow."""
    supervisor = {"Authorization": "Bearer supervisor-token"}
    resp = await client.post("/api/scorecard/deductions", headers=supervisor,
                             json={"agent": {}, "month": "", "points": 0, "reason": ""})
    assert resp.status == 400
    resp = await client.post("/api/tickets/1/transition", headers=supervisor, json={"to": "assigned", "owner": {}})
    assert resp.status in (400, 404)
    for method, path in (("DELETE", "/webhooks/wangwang"), ("PUT", "/api/tickets")):
        resp = await client.request(method, path, headers=supervisor)
        assert resp.status == 405 and {"GET", "POST"} & set(resp.headers["Allow"].split(",")), (method, path)


async def test_a_huge_message_id_to_learn_from_is_400(client):
    """Found by scripts/schemathesis: an id beyond a database integer reached the query (500)."""
    resp = await client.post("/api/kb/learn/accept", headers={"Authorization": "Bearer admin-token-12"},
                             json={"message_ids": [1, -4 * 10**34], "action": "intent", "intent": "order.status"})
    assert resp.status == 400 and (await resp.json())["error"] == "bad_request"


def test_every_successful_json_answer_says_what_it_holds():
    """No 2xx JSON answer is described as a bare object: each lists its keys (bot/web/answers_openapi.py),
    its own (a schema shared by mistake once described /api/kb/reload's answer as a reply's)."""
    from bot.web.answers_openapi import ANSWERS
    for (method, path, status), schema in ANSWERS.items():
        assert OPENAPI["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"] is schema
    for path, item in OPENAPI["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                schema = response["content"].get("application/json", {}).get("schema")
                if status.startswith("2") and schema is not None:
                    assert schema != {"type": "object"}, f"{method} {path} {status}: a bare JSON object"


ADMIN = {"Authorization": "Bearer admin-token-12"}


@pytest.mark.parametrize("method, path, body, field", [
    # found by scripts/schemathesis: each was taken (or was a 500) though the document refuses it
    ("GET", "/api/conversations?limit=5&limit=5", None, "limit"),
    ("GET", "/healthz?detail=null", None, "detail"),
    ("GET", "/api/metrics/agents?to=", None, "to"),
    ("POST", "/api/admin/tokens", {"role": {}, "expires_days": 1}, "role"),
    ("POST", "/api/admin/users", {"user": "u1", "password": "long enough pw", "groups": None}, "groups"),
    ("PUT", "/api/admin/shifts/early", {"start": "7:00", "end": "15:00"}, "start"),
    ("POST", "/api/kb/learn/accept", {"message_ids": [1], "action": "intent", "intent": {}}, "intent"),
    ("POST", "/api/kb/learn/accept", {"message_ids": [1], "action": "intent", "new_topic": {}}, "new_topic"),
    ("POST", "/api/kb/learn/accept", {"message_ids": [1], "action": "intent", "questions": [{}]}, "questions"),
    ("POST", "/api/kb/learn/accept", {"message_ids": [1], "action": "intent", "questions": {}}, "questions"),
    ("POST", "/api/kb/learn/accept", {"message_ids": [1], "action": "intent", "dry_run": {}}, "dry_run"),
    ("POST", "/api/kb/learn/accept", {"message_ids": [1], "action": "intent", "versions": None}, "versions"),
    ("POST", "/api/kb/topics", {"id": "a.b", "title": "x"}, "versions"),
    ("POST", "/api/phrases", {"code": " hi", "text": "亲"}, None),
    ("POST", "/api/tickets", {"conversation_id": 1, "note": "x", "category": "qualité"}, "category"),
    ("POST", "/api/tickets/1/transition", {"to": "done"}, "state"),
    ("POST", "/api/scorecard/deductions", {"agent": "xiaomei", "month": "", "points": 1, "reason": "x"}, "month"),
])
async def test_a_request_the_document_refuses_is_400_naming_the_field(client, method, path, body, field):
    resp = await client.request(method, path, headers=ADMIN, json=body)
    answer = await resp.json()
    assert resp.status == 400, answer
    assert field is None or field in answer["message"], answer


async def test_whole_numbers_written_with_a_point_are_integers(client):
    """JSON Schema's integer takes 6.0; so does the server (bot.web.params.loads)."""
    resp = await client.post("/api/suggest", headers=ADMIN, json={"text": "发什么快递", "limit": 2.0})
    assert resp.status == 200 and len((await resp.json())["suggestions"]) <= 2
    resp = await client.post("/api/suggest", headers=ADMIN, json={"text": "发什么快递", "limit": 2.5})
    assert resp.status == 400


@pytest.mark.parametrize("url, status", [
    ("/api/scorecard?month=0001-05", 400), ("/api/scorecard?month=1970-01", 200), ("/api/scorecard?month=1969-12", 400),
    ("/api/metrics/agents?from=0001-01-01", 400), ("/api/metrics/agents?to=9999-12-31", 400),
    ("/api/reports/agents?from=9999-12-31", 400), ("/api/reminders/report?from=0001-01-01", 400),
    ("/api/kb/learn?to=9999-12-31", 400), ("/api/metrics/agents?from=1970-01-01", 200),
    ("/api/metrics/agents?from=9998-12-31", 200), ("/api/reports/agents?from=9998-12-31&to=9998-12-31", 200),
])
async def test_the_calendars_edges_are_answered_not_500s(client, url, status):
    """Found by scripts/schemathesis: month=0001-05 was a 500 (strftime wrote the year 1 as "1"); near the
    calendar's edges the figures' windows are no datetimes: days are from 1970-01-01 to 9998-12-31 (400)."""
    resp = await client.get(url, headers=ADMIN)
    assert resp.status == status, await resp.text()


async def test_a_missing_static_file_is_the_apis_json_404(client):
    resp = await client.get("/static/no-such-file.js")
    assert (resp.status, resp.content_type, (await resp.json())["error"]) == (404, "application/json", "not_found")
    resp = await client.get("/static/console.js")
    assert resp.status == 200 and "javascript" in resp.content_type


async def test_a_list_as_a_replys_platform_is_the_editors_422_not_a_500(client):
    """The knowledge-base editor answers what it refuses as 422 `invalid` naming the field."""
    resp = await client.post("/api/kb/intents", headers=ADMIN, json={
        "id": "a.b", "title": "x", "questions": ["x"], "versions": {}, "replies": [{"platform": [None], "text": "x"}]})
    answer = await resp.json()
    assert (resp.status, answer["problems"][0]["field"]) == (422, "replies.0.platform"), answer
