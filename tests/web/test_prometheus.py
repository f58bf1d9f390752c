"""GET /metrics follows Prometheus' conventions, read back with prometheus_client's own parser."""

from __future__ import annotations

import os

from prometheus_client.parser import text_string_to_metric_families

from bot import __version__
from tests.conftest import buyer_message, make_config, post_push, push_and_process, signed_form
from tests.scrape import value

TOKEN = "scrape-token-0123456789"


async def test_every_series_follows_the_naming_conventions(client):
    await push_and_process(client, buyer_message(buyer="b1", text="在吗"))
    await post_push(client, "wangwang", {**signed_form(buyer_message(buyer="b2")), "sign": "0" * 32})
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    for name, family in families.items():
        assert not name.endswith(("_today", "_rate")), name
        assert "today" not in name and "p90" not in name and "avg" not in name, name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), name
        for sample in family.samples:  # a reason is a label of its own, never packed into another value
            assert not any(":" in v for k, v in sample.labels.items() if k != "route"), sample
    assert families["csbot_agent_response_seconds"].type == "histogram"
    assert families["csbot_push_processing_delay_seconds"].type == "histogram"
    assert families["csbot_http_request_duration_seconds"].type == "histogram"
    for name in ("csbot_outbox_sent", "csbot_outbox_retries", "csbot_outbox_failed"):
        assert families[name].type == "counter", name
    assert families["csbot_outbox_messages"].type == "gauge"
    text = await (await client.get("/metrics")).text()
    assert value(text, "csbot_build_info", version=__version__) == 1
    assert value(text, "process_open_fds") > 0 and value(text, "process_resident_memory_bytes") > 0
    assert value(text, "process_start_time_seconds") > 0 and value(text, "process_cpu_seconds_total") >= 0
    assert value(text, "csbot_pushes_total", platform="wangwang", outcome="stored", reason="") == 1
    assert value(text, "csbot_pushes_total", platform="wangwang", outcome="rejected", reason="bad signature") == 1
    # The first scrape was timed by route pattern, with its status code.
    assert value(text, "csbot_http_request_duration_seconds_count", method="GET", route="/metrics", code="200") >= 1
    assert value(text, "csbot_http_request_duration_seconds_count",
                 method="POST", route="/webhooks/{platform}", code="401") == 1


async def test_a_configured_token_is_needed_to_scrape(aiohttp_client, sqlite_url, clock, make_app):
    config = make_config(sqlite_url, server={"metrics_token": TOKEN})
    client = await aiohttp_client(make_app(config, clock))
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
        resp = await client.get("/metrics", headers=headers)
        assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer"), headers
        assert "csbot_" not in await resp.text()
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200 and "csbot_build_info" in await resp.text()


def test_the_token_may_come_from_the_environment(tmp_path):
    from bot.config import load_config

    path = tmp_path / "c.toml"
    path.write_text(f'[knowledge]\npath = "{os.path.abspath("knowledge")}"\n')
    assert load_config(path, environ={"CSBOT_METRICS_TOKEN": TOKEN}).server.metrics_token == TOKEN
    assert load_config(path, environ={}).server.metrics_token is None
