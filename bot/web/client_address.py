"""The client's address for limits per address (login lockout, token guesses): the peer, or, behind a
reverse proxy listed in `server.trusted_proxies`, the nearest address in X-Forwarded-For that is not a
proxy of ours (the ones further left are the client's own say, and could be forged)."""

from __future__ import annotations

import ipaddress

from aiohttp import web


class ClientAddress:
    def __init__(self, trusted_proxies: tuple[str, ...]) -> None:
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in self._proxies)

    def of(self, request: web.Request) -> str:
        peer = request.remote or "-"
        if not self._proxies or not self._trusted(peer):
            return peer
        hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop[:64]
        return peer
