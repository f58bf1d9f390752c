"""Shops, agents and their platform accounts, kept in step with the configuration."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.store.tables import Agent, AgentAccount, Shop


async def sync_from_config(session: AsyncSession, config: Config) -> None:
    """Make shops, agents and accounts match the configuration (the configuration is the truth)."""
    for p in config.platforms:
        shop = await session.scalar(sa.select(Shop).where(Shop.platform == p.name, Shop.app_key == p.app_key))
        if shop is None:
            session.add(Shop(platform=p.name, app_key=p.app_key, name=config.shop.name))
        else:
            shop.name = config.shop.name
    await session.execute(sa.delete(AgentAccount))
    await session.flush()
    for a in config.agents:
        agent = await session.get(Agent, a.id)
        if agent is None:
            session.add(Agent(id=a.id, name=a.name, roles=",".join(a.roles)))
        else:
            agent.name, agent.roles = a.name, ",".join(a.roles)
        await session.flush()
        for account in a.accounts:
            platform, _, name = account.partition(":")
            session.add(AgentAccount(platform=platform, account=name, agent_id=a.id))
    await session.flush()
