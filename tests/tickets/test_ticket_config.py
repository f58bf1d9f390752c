"""The [tickets] keys: defaults a small shop can keep, and wrong values named."""

from __future__ import annotations

import pytest

from bot.config import ConfigError
from tests.conftest import make_config


def test_defaults():
    t = make_config("sqlite:///x.db").tickets
    assert (t.rules_file, t.callback_enabled, t.escalation_webhook_url, t.aftersale_role) == (
        "complaints.toml", True, None, "aftersale")


@pytest.mark.parametrize(("tickets", "key"), [
    ({"sla_minutes": {"P1": [60, 1440], "P2": [240, 2880]}}, "tickets.sla_minutes"),
    ({"sla_minutes": {"P1": [600, 60], "P2": [240, 2880], "P3": [1440, 4320]}}, "tickets.sla_minutes"),
    ({"escalation_webhook_url": "ftp://x"}, "tickets.escalation_webhook_url"),
    ({"scan_seconds": 0}, "tickets.scan_seconds"),
    ({"calback_text": "typo"}, "tickets.calback_text"),
])
def test_a_wrong_value_names_the_key(tickets, key):
    with pytest.raises(ConfigError) as e:
        make_config("sqlite:///x.db", tickets=tickets)
    assert e.value.key == key
