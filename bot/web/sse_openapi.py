"""The events of the two Server-Sent-Event streams, for bot.web.openapi. In OpenAPI 3.1 the schema of a
text/event-stream answer describes one event ({event, data, id, retry}); `data` is JSON (one line,
bot.metrics.board.sse), described by contentMediaType and contentSchema."""

_TIME = {"type": "string", "format": "date-time"}
_ROWS = {"type": "array", "items": {"type": "object"}}


def _event(name: str, data: dict) -> dict:
    return {"type": "object", "required": ["event", "data"], "properties": {
        "event": {"const": name},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
        "id": {"type": "string", "description": "the change-log position; sent back as Last-Event-ID"},
        "retry": {"type": "integer"}}}


def _object(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required}


def stream(*events: dict) -> dict:
    """The content of a 200 answer that is an event stream of these events."""
    return {"text/event-stream": {"schema": {"oneOf": list(events)}}}


_NOW = {"now": {"oneOf": [_TIME, {"type": "null"}]}, "lag_s": {"type": "number"}}
BOARD = stream(
    _event("snapshot", _object({
        **_NOW, "day": {"type": ["string", "null"], "format": "date"}, "stale_after_s": {"type": "number"},
        "timezone": {"type": "string"}, "thresholds_s": {"type": "array", "items": {"type": "number"}},
        "roster": _ROWS, "agents": _ROWS, "waiting": _ROWS, "handovers": _ROWS, "shop": {"type": "object"}},
        ["now", "day", "lag_s", "timezone", "thresholds_s", "roster", "agents", "waiting", "handovers", "shop"])),
    _event("update", _object({
        **_NOW, "resumed": {"type": "boolean"}, "agents": _ROWS,
        "agents_removed": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        "waiting_upsert": _ROWS, "waiting_remove": {"type": "array", "items": {"type": "integer"}},
        "handovers": _ROWS, "roster": _ROWS, "shop": {"type": "object"}}, ["now", "lag_s"])),
    _event("escalation", _object({"tickets": _ROWS}, ["tickets"])),
    _event("ping", _object({"now": _TIME}, ["now"])),
)
CONSOLE = stream(
    _event("hello", _object({"role": {"enum": ["agent", "supervisor", "admin"]}}, ["role"])),
    _event("changed", _object({"buyers": {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"const": "*"}]}},
                              ["buyers"])),
    _event("transferred", {"type": "object", "description": "the transfer, as POST /api/conversations/{id}/transfer "
                                                            "answers it"}),
)
