"""Pure: the daily report pushed to the team (日报): when it is due, its text, and the payloads of the
企业微信 (WeCom) group robot, the 钉钉 (DingTalk) robot with its signed URL, and the e-mail.

The robots' formats are theirs: WeCom `{"msgtype": "markdown", "markdown": {"content": ...}}` posted to
the robot's webhook URL; DingTalk `{"msgtype": "markdown", "markdown": {"title", "text"}}` posted to
the webhook URL with `&timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256 of "timestamp\\nsecret">` when
the robot has a signing secret (加签). Both answer `{"errcode": 0, "errmsg": "ok"}` on success.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from email.message import EmailMessage


def due_day(now: datetime, *, at: str, zone: tzinfo) -> date | None:
    """The day whose report is due at `now`: yesterday (shop time) once today's `at` ("HH:MM") has passed.

    >>> from zoneinfo import ZoneInfo
    >>> z = ZoneInfo("Asia/Shanghai")
    >>> due_day(datetime(2026, 11, 25, 8, 59, tzinfo=z), at="09:00", zone=z) is None
    True
    >>> due_day(datetime(2026, 11, 25, 9, 0, tzinfo=z), at="09:00", zone=z)
    datetime.date(2026, 11, 24)
    """
    local = now.astimezone(zone)
    if local.time() < time.fromisoformat(at):
        return None
    return local.date() - timedelta(days=1)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}s"


def summary(*, shop: str, day: date, agents: Sequence[Mapping], totals: Sequence[Mapping], tickets_overdue: int,
            reminders: Mapping) -> tuple[str, str]:
    """(title, markdown) of the day's report: per-agent figures, the shop per platform, tickets past
    their SLA now, payment reminders sent and recovered.

    >>> title, text = summary(shop="小店", day=date(2026, 11, 24), agents=[], totals=[], tickets_overdue=2,
    ...                       reminders={"reminded": 3, "recovered": 1, "recovered_sales": 99.0})
    >>> title, text.splitlines()[-2:]
    ('小店 客服日报 2026-11-24', ['- 超时工单 tickets past SLA: 2', '- 催付 reminded 3, recovered 1 (¥99.00)'])
    """
    title = f"{shop} 客服日报 {day.isoformat()}"
    lines = [f"### {title}", "", "**全店 shop**"]
    for t in totals:
        pending = f" ({t['effective_reply_pending']} pending)" if t.get("effective_reply_pending") else ""
        lines.append(f"- {t['platform']}: 咨询 {t['consulting_buyers']}, 回复率 {_pct(t['reply_rate'])}, "
                     f"平均响应 {_s(t['avg_response_s'])}, 30秒 {_pct(t['within_30s_rate'])}, "
                     f"有效回复 {_pct(t['effective_reply_rate'])}{pending}, 转化 {_pct(t['conversion_rate'])}, "
                     f"销售 ¥{t['sales']:.2f}")
    if not totals:
        lines.append("- (no buyers)")
    lines += ["", "**客服 agents**"]
    for a in agents:
        lines.append(f"- {a.get('name') or a['agent']} ({a['platform']}): 咨询 {a['consulting_buyers']}, "
                     f"响应 {a['responses']}, 平均 {_s(a['avg_response_s'])}, p90 {_s(a['p90_response_s'])}, "
                     f"30秒 {_pct(a['within_30s_rate'])}, 转化 {_pct(a['conversion_rate'])}, 销售 ¥{a['sales']:.2f}")
    if not agents:
        lines.append("- (no agent activity)")
    lines += ["", f"- 超时工单 tickets past SLA: {tickets_overdue}",
              f"- 催付 reminded {reminders.get('reminded', 0)}, recovered {reminders.get('recovered', 0)} "
              f"(¥{reminders.get('recovered_sales', 0.0):.2f})"]
    return title, "\n".join(lines)


def wecom_payload(text: str) -> dict:
    """The 企业微信 group robot's markdown message (its content is at most 4096 bytes).

    >>> wecom_payload("### hi")
    {'msgtype': 'markdown', 'markdown': {'content': '### hi'}}
    """
    return {"msgtype": "markdown", "markdown": {"content": _cut(text, 4096)}}


def dingtalk_payload(title: str, text: str) -> dict:
    """The 钉钉 robot's markdown message.

    >>> dingtalk_payload("t", "x")
    {'msgtype': 'markdown', 'markdown': {'title': 't', 'text': 'x'}}
    """
    return {"msgtype": "markdown", "markdown": {"title": title, "text": _cut(text, 20000)}}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """base64 of HMAC-SHA256 over "timestamp\\nsecret" keyed by the secret, URL-encoded (钉钉 加签); the
    example checked with `printf "1700000000000\\nSECxyz" | openssl dgst -sha256 -hmac SECxyz -binary | base64`.

    >>> dingtalk_sign("SECxyz", 1700000000000)
    '0PUR1j8g85Xg3vlFV%2FUrEcxXfF5HpCAGzcjrNfyJoyg%3D'
    """
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode("utf-8"), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode("ascii"))


def dingtalk_url(url: str, *, secret: str, timestamp_ms: int) -> str:
    """The webhook URL with `timestamp` and `sign` added (unchanged without a secret).

    >>> dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=T", secret="SECxyz", timestamp_ms=1700000000000)
    'https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1700000000000&sign=0PUR1j8g85Xg3vlFV%2FUrEcxXfF5HpCAGzcjrNfyJoyg%3D'
    """
    if not secret:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={dingtalk_sign(secret, timestamp_ms)}"


def robot_answer(status: int, body: object) -> str | None:
    """None when a robot accepted the message, else what went wrong.

    >>> robot_answer(200, {"errcode": 0, "errmsg": "ok"}), robot_answer(200, {"errcode": 310000, "errmsg": "sign not match"})
    (None, 'errcode 310000: sign not match')
    """
    if status != 200:
        return f"HTTP {status}"
    if not isinstance(body, dict):
        return "the answer is not a JSON object"
    if body.get("errcode") != 0:
        return f"errcode {body.get('errcode')}: {str(body.get('errmsg'))[:200]}"
    return None


def email(*, title: str, text: str, sender: str, to: Sequence[str]) -> EmailMessage:
    """The report as a plain-text e-mail (UTF-8)."""
    message = EmailMessage()
    message["Subject"] = title
    message["From"] = sender
    message["To"] = ", ".join(to)
    message.set_content(text)
    return message


def backoff(attempt: int, *, base_s: float, most_s: float = 3600) -> timedelta:
    """The wait before retry number `attempt` (1, 2, ...): doubling from `base_s`, at most `most_s`.

    >>> [backoff(n, base_s=60).total_seconds() for n in (1, 2, 3, 10)]
    [60.0, 120.0, 240.0, 3600.0]
    """
    return timedelta(seconds=min(most_s, base_s * 2 ** (attempt - 1)))


def _cut(text: str, most_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= most_bytes:
        return text
    return encoded[:most_bytes - 3].decode("utf-8", errors="ignore") + "…"
