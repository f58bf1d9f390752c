"""The OpenAPI description of the bot's HTTP interface, served at /api/openapi.json."""

_PUSH_ANSWER = {
    "type": "object",
    "properties": {"code": {"type": "integer"}, "msg": {"type": "string"}},
    "required": ["code", "msg"],
}
_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error", "message"],
}


def _push_path(platform: str, summary: str) -> dict:
    return {
        "post": {
            "summary": summary,
            "security": [],
            "requestBody": {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}},
            },
            "responses": {
                status: {"description": why, "content": {"application/json": {"schema": _PUSH_ANSWER}}}
                for status, why in [
                    ("200", "stored (msg ok) or seen before (msg duplicate)"),
                    ("400", "malformed: missing field, bad JSON, unknown topic or method, bad time"),
                    ("401", "bad or missing signature, unknown app_key, timestamp out of window"),
                    ("413", "body over server.max_body_bytes"),
                    ("503", "overloaded or store unavailable; retry"),
                ]
            },
        }
    }


OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "csbot", "version": "0.1.0", "description": "Customer-service assistant bot"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Error": _ERROR, "PushAnswer": _PUSH_ANSWER},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/healthz": {
            "get": {
                "summary": "Readiness: ok once the store is ready",
                "security": [],
                "responses": {"200": {"description": "ready"}, "503": {"description": "starting"}},
            }
        },
        "/metrics": {
            "get": {"summary": "Prometheus text format", "security": [], "responses": {"200": {"description": "metrics"}}}
        },
        "/webhooks/wangwang": _push_path("wangwang", "Wangwang push intake (TOP-style signed form)"),
        "/webhooks/dongdong": _push_path("dongdong", "Dongdong push intake (JOS-style signed form)"),
    },
}
