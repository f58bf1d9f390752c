"""A ticket escalated past its SLA is announced to every board viewer on the stream."""

import json

from bot.app import _escalations_to_board
from bot.tickets.job import Escalation
from bot.web import keys
from tests.conftest import START, minutes


async def test_an_escalation_reaches_every_board_viewer(client):
    board = client.app[keys.BOARD]
    viewers = [board.subscribe(), board.subscribe()]
    escalation = Escalation(ticket_id=7, severity="P1", state="assigned", owner="aqiang",
                            breached=("first_response",), first_response_due_at=START + minutes(60),
                            resolution_due_at=START + minutes(1440))
    await _escalations_to_board(client.app, [escalation])
    for viewer in viewers:
        kind, data = viewer.queue.get_nowait().strip().split("\n")
        assert kind == "event: escalation"
        [ticket] = json.loads(data.removeprefix("data: "))["tickets"]
        assert (ticket["ticket_id"], ticket["severity"], ticket["breached"]) == (7, "P1", ["first_response"])
