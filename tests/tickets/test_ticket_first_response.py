"""A ticket's first response is a message to the buyer, never a move in the queue (issue 14): a
transition by any staff member leaves it unset; a reply sent from the console through the outbox
sets it, as an answer typed in the platform's chat does."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.tables import Ticket
from bot.web import keys
from tests.conftest import START, buyer_message, gateway_url, make_config, minutes, push_and_process

SUP = {"Authorization": "Bearer supervisor-token"}
AGENT = {"Authorization": "Bearer agent-xiaomei-token"}


async def the_ticket(client) -> Ticket:
    async with client.app[keys.DB]() as session:
        return await session.scalar(sa.select(Ticket))


async def test_moves_do_not_count_and_a_console_reply_does(aiohttp_client, make_app, clock, sqlite_url, gateway):
    client = await aiohttp_client(make_app(make_config(sqlite_url, gateway_url=gateway_url(gateway)), clock))
    await push_and_process(client, buyer_message(text="客服态度太差了，我要投诉", at=START, agent="小店:小美"))
    ticket = await the_ticket(client)
    for to, body, headers in (("assigned", {"owner": "aqiang"}, SUP), ("investigating", {}, SUP)):
        resp = await client.post(f"/api/tickets/{ticket.id}/transition", json={"to": to, **body}, headers=headers)
        assert resp.status == 200, await resp.text()
    assert (await the_ticket(client)).first_response_at is None
    clock.set(START + minutes(5))
    conversation = (await (await client.get("/api/conversations", headers=AGENT)).json())["items"][0]["id"]
    resp = await client.post(f"/api/conversations/{conversation}/reply", json={"text": "亲，非常抱歉"}, headers=AGENT)
    assert resp.status == 202
    assert (await the_ticket(client)).first_response_at is None  # queued is not answered
    await client.app[keys.OUTBOX].send_due()
    assert (await the_ticket(client)).first_response_at == START + minutes(5)
