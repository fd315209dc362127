"""`var/demo-outbox/index.html`: one static page listing the emails sent, each one a web page."""

from __future__ import annotations

import email
from dataclasses import dataclass
from datetime import datetime
from email.header import decode_header, make_header
from email.message import Message
from html import escape
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session, col

from models import Customer, Delivery
from worker.demo.summary import SENT
from worker.providers.files import FileProvider

HTML_DIR = "html"  # beside index.html: one <delivery>.html per email, its HTML part


@dataclass(frozen=True)
class Row:
    sent_at: datetime
    to: str
    subject: str
    message: str
    segment: str
    locale: str
    variant: str
    page: str  # relative to index.html
    eml: str


def write_index(db: Session, outbox: Path) -> tuple[Path, int]:
    """Writes the HTML part of every sent email and the page listing them; returns the page's
    path and how many emails it lists. An email whose .eml file is gone is left out."""
    files = FileProvider(outbox)
    (outbox / HTML_DIR).mkdir(parents=True, exist_ok=True)
    query = (
        select(Delivery, Customer)
        .join(Customer, col(Customer.id) == col(Delivery.customer_id))
        .where(col(Delivery.status).in_(SENT))
        .order_by(col(Delivery.sent_at), col(Delivery.id))
    )
    rows = []
    for delivery, customer in db.execute(query).all():
        eml = files.path_of(delivery.provider_message_id)
        if eml is not None and eml.exists():
            rows.append(_extract(eml, outbox, delivery, customer))
    index = outbox / "index.html"
    index.write_text(page(rows), encoding="utf-8")
    return index, len(rows)


def _extract(eml: Path, outbox: Path, delivery: Delivery, customer: Customer) -> Row:
    # The compat32 parser: ten times faster than the modern one, and thousands of files wait.
    parsed = email.message_from_bytes(eml.read_bytes())
    subject = str(make_header(decode_header(parsed.get("Subject", ""))))
    target = Path(HTML_DIR) / f"{eml.stem}.html"
    (outbox / target).write_text(_html_part(parsed), encoding="utf-8")
    return Row(
        sent_at=delivery.sent_at or delivery.send_at,
        to=customer.email,
        subject=" ".join(subject.split()),
        message=delivery.message,
        segment=delivery.segment or "-",
        locale=customer.locale or "-",
        variant=delivery.variant or "-",
        page=target.as_posix(),
        eml=eml.name,
    )


def _html_part(parsed: Message) -> str:
    for part in parsed.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return "<p>(this email has no HTML part)</p>"


def _row_html(row: Row) -> str:
    cells = [
        f"{row.sent_at:%Y-%m-%d %H:%M}",
        escape(row.to),
        f'<a href="{escape(row.page)}">{escape(row.subject)}</a>',
        escape(row.message),
        escape(row.segment),
        escape(row.locale),
        escape(row.variant),
        f'<a href="{escape(row.eml)}">.eml</a>',
    ]
    tds = "".join(f"<td>{cell}</td>" for cell in cells)
    return f'<tr data-message="{escape(row.message)}">{tds}</tr>'


_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Ladder demo: emails sent</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #2b2b2b; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e5e0d8; }
th { background: #f4f1ec; position: sticky; top: 0; }
tr:hover td { background: #faf8f5; }
input, select { font: inherit; padding: 4px; }
</style>
</head>
<body>
"""

_SCRIPT = """<script>
const query = document.getElementById("query"), message = document.getElementById("message");
const rows = Array.from(document.querySelectorAll("tbody tr"));
function apply() {
  const text = query.value.toLowerCase();
  let shown = 0;
  for (const row of rows) {
    const show = (!message.value || row.dataset.message === message.value)
      && (!text || row.textContent.toLowerCase().includes(text));
    row.hidden = !show;
    if (show) shown++;
  }
  document.getElementById("shown").textContent = shown;
}
query.addEventListener("input", apply);
message.addEventListener("change", apply);
</script>
"""


def page(rows: list[Row]) -> str:
    """The whole page: a filter box, a message picker and one table row per email."""
    messages = sorted({row.message for row in rows})
    options = "".join(f'<option value="{escape(m)}">{escape(m)}</option>' for m in messages)
    headers = ("sent (UTC)", "to", "subject", "message", "segment", "locale", "variant", "")
    parts = [
        _HEAD,
        "<h1>Ladder demo: emails sent</h1>\n",
        f'<p><span id="shown">{len(rows)}</span> of {len(rows)} emails. '
        "Click a subject to read the email as the customer would.</p>\n",
        '<p><input id="query" type="search" placeholder="filter: address, subject, variant…" '
        'size="40"> <select id="message"><option value="">every message</option>'
        f"{options}</select></p>\n",
        "<table>\n<thead><tr>",
        "".join(f"<th>{escape(name)}</th>" for name in headers),
        "</tr></thead>\n<tbody>\n",
        "\n".join(_row_html(row) for row in rows),
        "\n</tbody>\n</table>\n",
        _SCRIPT,
        "</body>\n</html>\n",
    ]
    return "".join(parts)
