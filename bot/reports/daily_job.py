"""The daily report job: every scan, once the configured time has passed, the day before's report goes
to each configured channel, exactly once per day and channel however many processes run (a unique row,
claimed before sending), retried with backoff, failures kept for the board."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Callable
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.clock import to_epoch_ms
from bot.config import Config
from bot.metrics.period import PeriodFigures
from bot.metrics.report import Rules
from bot.reports import daily
from bot.reports.figures import period_report
from bot.store import daily_reports as store
from bot.store import reminders as reminders_store
from bot.store import tickets as tickets_store

log = logging.getLogger(__name__)
STALE_CLAIM = timedelta(minutes=5)  # a claim this old belongs to a process that died while sending


class SendFailed(Exception):
    pass


class DailyReportJob:
    def __init__(self, db: async_sessionmaker, figures: PeriodFigures, *, config: Config, rules: Rules,
                 http: Callable[[], aiohttp.ClientSession]) -> None:
        self._db = db
        self._figures = figures
        self._config = config
        self._settings = config.daily_report
        self._rules = rules
        self._http = http

    async def run(self, *, now: datetime) -> list[tuple[str, str]]:
        """One scan: (channel, outcome) of each delivery attempted (sent, retry, failed)."""
        s = self._settings
        day = daily.due_day(now, at=s.at, zone=self._rules.zone)
        if day is None or not s.channels():
            return []
        async with self._db() as session, session.begin():
            await store.ensure(session, day=day, channels=s.channels(), now=now)
        async with self._db() as session, session.begin():
            claimed = await store.claim_due(session, now=now, stale_before=now - STALE_CLAIM)
        outcomes = []
        texts: dict = {}
        for delivery in claimed:
            try:
                if delivery.day not in texts:
                    texts[delivery.day] = await self._summary(delivery.day, now)
                await self._send(delivery.channel, *texts[delivery.day], now=now)
            except Exception as e:  # a robot's error code, a timeout, a refused connection, a bad answer
                error = str(e) or type(e).__name__
                async with self._db() as session, session.begin():
                    if delivery.attempts >= s.max_attempts:
                        await store.mark_failed(session, delivery.id, error=error)
                        outcome = "failed"
                    else:
                        at = now + daily.backoff(delivery.attempts, base_s=s.backoff_seconds)
                        await store.mark_retry(session, delivery.id, error=error, at=at)
                        outcome = "retry"
                log.warning("daily report not sent day=%s channel=%s attempt=%d outcome=%s error=%s",
                            delivery.day, delivery.channel, delivery.attempts, outcome, error)
            else:
                async with self._db() as session, session.begin():
                    await store.mark_sent(session, delivery.id, now=now)
                outcome = "sent"
                log.info("daily report sent day=%s channel=%s", delivery.day, delivery.channel)
            outcomes.append((delivery.channel, outcome))
        return outcomes

    async def _summary(self, day, now: datetime) -> tuple[str, str]:
        names = {a.id: a.name or a.id for a in self._config.agents}
        report = await period_report(self._db, self._figures, first=day, last=day, now=now, rules=self._rules,
                                     names=names, by_day=False)
        start, end = self._rules.day_bounds(day, day)
        async with self._db() as session:
            overdue = (await tickets_store.search(session, overdue_at=now, limit=1))[1]
            decided = await reminders_store.decided_between(session, since=start, until=end)
        last_sent = {}
        for d in decided:
            if d.state == "sent" and (d.order_pk not in last_sent or d.decided_at > last_sent[d.order_pk].decided_at):
                last_sent[d.order_pk] = d
        recovered = [d for d in last_sent.values() if d.paid_at is not None and d.decided_at <= d.paid_at
                     <= d.decided_at + timedelta(hours=self._config.reminders.recovered_hours)]
        return daily.summary(shop=self._config.shop.name, day=day, agents=report["items"], totals=report["totals"],
                             tickets_overdue=overdue, reminders={
                                 "reminded": len(last_sent), "recovered": len(recovered),
                                 "recovered_sales": sum(d.paid_fen or 0 for d in recovered) / 100})

    async def _send(self, channel: str, title: str, text: str, *, now: datetime) -> None:
        s = self._settings
        if channel == "email":
            message = daily.email(title=title, text=text, sender=s.mail_from or s.smtp_username, to=s.mail_to)
            await asyncio.to_thread(self._mail, message)
            return
        if channel == "wecom":
            url, payload = s.wecom_webhook_url, daily.wecom_payload(text)
        else:
            url = daily.dingtalk_url(s.dingtalk_webhook_url, secret=s.dingtalk_secret, timestamp_ms=to_epoch_ms(now))
            payload = daily.dingtalk_payload(title, text)
        timeout = aiohttp.ClientTimeout(total=s.timeout_seconds)
        try:
            async with self._http().post(url, json=payload, timeout=timeout) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
                error = daily.robot_answer(resp.status, body)
        except asyncio.TimeoutError:
            raise SendFailed(f"no answer within {s.timeout_seconds:g} s") from None
        except aiohttp.ClientError as e:
            raise SendFailed(f"unreachable: {e}") from None
        if error:
            raise SendFailed(error)

    def _mail(self, message) -> None:
        s = self._settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
            smtp.send_message(message)
