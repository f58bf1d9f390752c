"""Acting from the board (issue 17) through the API: a supervisor transfers (转接) any waiting buyer to a
chosen agent, an agent still may not touch a buyer not theirs, and the transfer reaches every process's
board through the change log."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.store.tables import Change
from bot.web import keys
from tests.conftest import START, buyer_message, gateway_url, make_config, push_and_process

MEI = {"Authorization": "Bearer agent-xiaomei-token"}
QIANG = {"Authorization": "Bearer agent-aqiang-token"}
SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
TOKENS = [{"token": "agent-xiaomei-token", "role": "agent", "agent": "xiaomei"},
          {"token": "agent-aqiang-token", "role": "agent", "agent": "aqiang"},
          {"token": "supervisor-token", "role": "supervisor"}]


@pytest.fixture
async def bot(db_url, aiohttp_client, make_app, clock, gateway):
    config = make_config(db_url, gateway_url=gateway_url(gateway), tokens=TOKENS)
    client = await aiohttp_client(make_app(config, clock))
    await push_and_process(client, buyer_message(buyer="tb_mine", text="能发顺丰吗", agent="小店:小美", at=START),
                           buyer_message(buyer="tb_other", text="在吗", agent="小店:阿强", at=START))
    clock.advance(seconds=20)
    return client


async def ids(bot) -> dict[str, int]:
    body = await (await bot.get("/api/conversations", headers=SUPERVISOR)).json()
    return {item["buyer"]: item["id"] for item in body["items"]}


async def test_a_supervisor_transfers_any_buyer_and_an_agent_still_gets_403_for_one_not_theirs(bot):
    every = await ids(bot)
    # 小美 may not transfer (or open) 阿强's buyer
    refused = await bot.post(f"/api/conversations/{every['tb_other']}/transfer", headers=MEI, json={"to": "aqiang"})
    assert (refused.status, (await refused.json())["error"]) == (403, "not_routed_to_you")
    assert (await bot.get(f"/api/conversations/{every['tb_other']}", headers=MEI)).status == 403

    # the supervisor, who holds neither buyer, may transfer both
    await bot.app[keys.METRICS].refresh()
    resp = await bot.post(f"/api/conversations/{every['tb_other']}/transfer", headers=SUPERVISOR,
                          json={"to": "xiaomei", "note": "阿强在忙", "version": 0})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["from"], body["to"], body["to_name"], body["version"]) == ("supervisor", "xiaomei", "小美", 1)
    assert (await bot.post(f"/api/conversations/{every['tb_mine']}/transfer", headers=SUPERVISOR,
                           json={"to": "aqiang"})).status == 200

    # the buyers follow: each agent now sees the other's buyer and no longer their own
    for headers, buyer, lost in ((MEI, "tb_other", "tb_mine"), (QIANG, "tb_mine", "tb_other")):
        listed = await (await bot.get("/api/conversations", headers=headers)).json()
        assert [i["buyer"] for i in listed["items"]] == [buyer]
        assert (await bot.get(f"/api/conversations/{every[lost]}", headers=headers)).status == 403
    # ... and so does the board (the transfer marks the buyer for the next round)
    await bot.app[keys.METRICS].refresh()
    assert {w["buyer"]: w["agent"] for w in bot.app[keys.BOARD].waiting()} == {"tb_mine": "aqiang", "tb_other": "xiaomei"}
    agents = {a["id"]: a for a in (await (await bot.get("/api/agents", headers=SUPERVISOR)).json())["items"]}
    assert (agents["xiaomei"]["waiting"], agents["aqiang"]["waiting"]) == (1, 1)


async def test_a_transfer_is_in_the_change_log_for_the_other_processes_boards(bot):
    every = await ids(bot)
    assert (await bot.post(f"/api/conversations/{every['tb_mine']}/transfer", headers=SUPERVISOR,
                           json={"to": "aqiang"})).status == 200
    async with bot.app[keys.DB]() as session:
        rows = (await session.execute(sa.select(Change.kind, Change.platform, Change.buyer, Change.agent_account,
                                                Change.push_id).where(Change.kind == "transfer"))).all()
    assert [tuple(r) for r in rows] == [("transfer", "wangwang", "tb_mine", "小店:阿强", f"transfer:{every['tb_mine']}:1")]
