"""The OpenAPI document describes every route the app serves, each method, with its responses; a route
added without being described fails here."""

from __future__ import annotations

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
