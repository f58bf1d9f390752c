"""Pure: a report's rows as CSV text or an XLSX workbook (openpyxl), the columns in one list; text cells
masked (bot/privacy.py), as every export is."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

from bot.privacy import mask

# The columns of an exported report, in order: what the reports page shows.
COLUMNS = ("day", "agent", "name", "platform", "consulting_buyers", "replied_buyers", "reply_rate", "responses",
           "avg_response_s", "p50_response_s", "p90_response_s", "first_response_avg_s", "within_30s_rate",
           "effective_reply_rate", "effective_reply_pending", "converted_buyers", "conversion_rate", "sales",
           "avg_order_value", "csat", "csat_responses")


def to_csv(rows: Sequence[Mapping]) -> str:
    """Rows as CSV with a header line; a missing figure is an empty cell.

    >>> to_csv([{"day": "2026-11-24", "agent": "xiaomei", "responses": 3, "csat": None}]).splitlines()[1][:24]
    '2026-11-24,xiaomei,,,,,,'
    """
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: mask(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows)
    return buf.getvalue()


def to_xlsx(sheets: Sequence[tuple[str, Sequence[Mapping]]]) -> bytes:
    """One worksheet per (title, rows), each with the header row; numbers stay numbers."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title=title[:31])
        sheet.append(list(COLUMNS))
        for row in rows:
            sheet.append([mask(v) if isinstance(v := row.get(c), str) else v for c in COLUMNS])
        sheet.freeze_panes = "A2"
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
