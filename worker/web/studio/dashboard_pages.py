"""The dashboard's pages as code: one layout (navigation, styles inline: nothing from a CDN,
no JavaScript) and a template per page, autoescaped, with filters that write numbers for people.

Code, not a marketer's file: these pages are Ladder's own, so they live beside their routes
and ship inside the package.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import DictLoader, Environment

from worker.authoring.reporting import money


def _count(number: int) -> str:
    return f"{number:,}"


def _share(part: int, whole: int) -> str:
    """A part of its whole in per cent; nothing for none (a column of "0 0.0%" hides the rest)."""
    return f"{part / whole:.1%}" if part and whole else ""


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Ladder studio · {{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1f2328; }
nav { background: #24292f; padding: 10px 24px; display: flex; gap: 20px; align-items: center; }
nav a { color: #d0d7de; text-decoration: none; font-size: 15px; }
nav a.here, nav a:hover { color: #fff; }
nav strong { color: #fff; margin-right: 12px; }
main { padding: 16px 24px; max-width: 1240px; }
h1 { font-size: 22px; margin: 8px 0 12px; }
h2 { font-size: 17px; margin: 24px 0 8px; }
table { border-collapse: collapse; background: #fff; border: 1px solid #d0d7de;
  font-size: 14px; width: 100%; }
th, td { padding: 6px 10px; border-bottom: 1px solid #eaeef2; text-align: left;
  vertical-align: top; }
th { background: #f0f2f4; font-weight: 600; white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td small, p.quiet { color: #57606a; }
form.line { display: flex; gap: 8px; align-items: end; flex-wrap: wrap; margin: 8px 0; }
label { display: flex; flex-direction: column; font-size: 12px; color: #57606a; }
input, select, button { font-size: 14px; padding: 4px 8px; }
.paused { background: #fff1f0; border: 1px solid #f5a3a3; padding: 10px 14px; margin: 8px 0; }
.notice { background: #eef8ee; border: 1px solid #8c8; padding: 10px 14px; margin: 8px 0; }
.state-on { color: #1a7f37; } .state-off { color: #8c959f; } .state-paused { color: #cf222e; }
nav #who { display: flex; gap: 10px; align-items: center; margin-left: auto; color: #d0d7de;
  font-size: 13px; }
nav #who strong { color: #fff; margin: 0; }
#logout-form { display: none; }
</style></head>
<body>
<nav><strong>Ladder studio</strong>
{% for href, label in [("/studio/", "What is happening"), ("/studio/files", "Emails and triggers"),
  ("/studio/broadcasts", "Broadcasts"),
  ("/studio/customers", "Customers"),
  ("/studio/suppressions", "Suppressions"), ("/studio/preview", "Preview")] %}
<a href="{{ href }}"{{ ' class="here"' if href == here else '' }}>{{ label }}</a>
{% endfor %}
{{ who }}
</nav>
{{ logout }}
<main>
<h1>{{ title }}</h1>
{% block content %}{% endblock %}
</main>
</body></html>
"""

_HOME = """{% extends "layout" %}{% block content %}
{% if lifted %}<div class="notice" id="notice">{{ lifted }}</div>{% endif %}
{% for pause in pauses %}
<div class="paused" id="pause-{{ pause.provider }}">
<strong>Sending through {{ pause.provider }} is paused</strong> since {{ pause.paused_at|when }}
UTC: {{ pause.reason }}. The next delivery after {{ pause.probe_at|when }} tries again.
{% if can_lift %}
<form method="post" action="/studio/pauses/lift" class="line">
<input type="hidden" name="token" value="{{ token }}">
<input type="hidden" name="provider" value="{{ pause.provider }}">
<button type="submit" id="lift-{{ pause.provider }}">Lift the pause and send now</button>
</form>{% else %}<p class="quiet">A publisher can lift it.</p>{% endif %}</div>
{% else %}<p class="quiet" id="sending">Sending is not paused.</p>{% endfor %}
<form method="get" action="/studio/" class="line">
<label>Emails due in the last<select name="days" id="days">
{% for choice in day_choices %}
<option value="{{ choice }}"{{ " selected" if choice == days else "" }}>{{ choice }} days</option>
{% endfor %}</select></label>
<button type="submit" id="show">Show</button>
</form>
<h2>Per trigger: the last {{ days }} days, and the next {{ plan_days }} (an estimate)</h2>
{% if trigger_problem %}<div class="paused">{{ trigger_problem }}</div>{% endif %}
<table id="triggers">
<tr><th>trigger</th><th>state</th><th class="n">scheduled</th><th class="n">sent</th>
<th class="n">delivered</th><th class="n">opened</th><th class="n">clicked</th>
<th class="n">converted</th><th class="n">revenue ({{ currency }})</th>
<th class="n">next {{ plan_days }} days</th></tr>
{% for row in rows %}{% set t = row.line %}
<tr id="trigger-{{ row.name }}"><td>{{ row.name }}<br><small>{{ row.on }}</small></td>
<td class="state-{{ row.state_class }}">{{ row.state }}</td>
<td class="n">{{ t.scheduled|count }}</td><td class="n">{{ t.sent|count }}</td>
<td class="n">{{ t.delivered|count }} <small>{{ share(t.delivered, t.sent) }}</small></td>
<td class="n">{{ t.opened|count }} <small>{{ share(t.opened, t.sent) }}</small></td>
<td class="n">{{ t.clicked|count }} <small>{{ share(t.clicked, t.sent) }}</small></td>
<td class="n">{{ t.converted|count }} <small>{{ share(t.converted, t.recipients) }}</small></td>
<td class="n">{{ money(t.revenue, currency) }}</td>
<td class="n">{% if row.next is none %}-{% else %}{{ row.next|count }}
{% if row.entering %}<small>{{ row.entering|count }} entering</small>{% endif %}
{% endif %}</td></tr>
{% endfor %}
</table>
<p class="quiet">Revenue: orders credited to the emails, net of refunds. Next: what
<code>ladder plan</code> estimates the files would send, after holdouts and the budget.</p>
{% endblock %}"""

_CUSTOMERS = """{% extends "layout" %}{% block content %}
<form method="get" action="/studio/customers" class="line">
<label>E-mail or name<input name="q" id="q" value="{{ q }}" size="36" autofocus></label>
<button type="submit" id="search">Search</button></form>
{% if q %}
{% if found %}<table id="found">
<tr><th>customer</th><th>name</th><th>segment</th><th class="n">orders</th><th>language</th></tr>
{% for c in found %}<tr><td><a href="/studio/customers/{{ c.id }}">{{ c.email }}</a></td>
<td>{{ c.first_name or "" }} {{ c.last_name or "" }}</td><td>{{ c.segment or "-" }}</td>
<td class="n">{{ c.orders_count|count }}</td><td>{{ c.locale or "-" }}</td></tr>
{% endfor %}</table>
{% if found|length >= at_most %}<p class="quiet">The first {{ at_most }}: type more to narrow
it.</p>{% endif %}
{% else %}<p id="none">No customer matches “{{ q }}”.</p>{% endif %}
{% endif %}
{% endblock %}"""

_TIMELINE = """{% extends "layout" %}{% block content %}{% set c = found.customer %}
<table id="facts">
<tr><th>segment</th><td>{{ c.segment or "-" }} (rfm {{ c.rfm or "-" }})</td></tr>
<tr><th>orders</th><td>{{ c.orders_count|count }}, first {{ c.first_order_at|when }},
last {{ c.last_order_at|when }}</td></tr>
<tr><th>language, zone</th>
<td>{{ c.locale or "-" }}, {{ c.timezone or "the shop's zone" }}</td></tr>
<tr><th>marketing consent</th><td>{{ "yes" if c.accepts_marketing else "no" }}</td></tr>
<tr><th>suppressed</th><td id="suppressed">{{ "yes" if found.suppressed else "no" }}</td></tr>
</table>
<h2>Timeline (UTC)</h2>
<table id="timeline"><tr><th>when</th><th>event</th><th>triggers</th><th>why</th></tr>
{% for step in found.steps %}
{% set rows = [] %}
{% for m in step.matches %}{% do rows.append((m.trigger ~ ": " ~ m.outcome, m.detail)) %}
{% endfor %}
{% for name in step.cancels %}
{% do rows.append(("cancelled the waiting " ~ name, "its unless")) %}
{% endfor %}
{% for what, why in rows or [("-", "")] %}
<tr>{% if loop.first %}<td rowspan="{{ loop.length }}">{{ step.event.occurred_at|when }}</td>
<td rowspan="{{ loop.length }}">{{ step.event.type }} ({{ step.event.source }})</td>{% endif %}
<td>{{ what }}</td><td>{{ why }}</td></tr>
{% endfor %}{% endfor %}
</table>
<h2>Deliveries (UTC)</h2>
<table id="deliveries"><tr><th class="n">id</th><th>trigger</th><th>status</th><th>when</th>
<th>reason</th></tr>
{% for d in found.deliveries %}
<tr><td class="n">{{ d.id }}</td><td>{{ d.trigger }}{{ " (" ~ d.ab_variant ~ ")" if d.ab_variant }}
</td><td>{{ d.status }}</td><td>{{ (d.sent_at or d.send_at)|when }}</td>
<td>{{ d.reason or "" }}</td></tr>
{% else %}<tr><td colspan="5">No emails yet.</td></tr>{% endfor %}
</table>
{% endblock %}"""

_SUPPRESSIONS = """{% extends "layout" %}{% block content %}
<p class="quiet">Addresses Ladder never mails again (bounced, complained, unsubscribed from all,
or added by hand), newest first.</p>
<form method="get" action="/studio/suppressions" class="line">
<label>Address contains<input name="q" id="q" value="{{ q }}" size="30"></label>
<button type="submit" id="search">Search</button></form>
<table id="suppressions"><tr><th>address</th><th>reason</th><th>since (UTC)</th></tr>
{% for s in page.rows %}
<tr><td>{{ s.email }}</td><td>{{ s.reason }}</td><td>{{ s.created_at|when }}</td></tr>
{% else %}<tr><td colspan="3" id="none">No suppressed address{{ " matches" if q }}.</td></tr>
{% endfor %}</table>
{% if page.older %}<p><a id="older" href="{{ older_url }}">Older</a></p>{% endif %}
{% endblock %}"""

_ENV = Environment(
    loader=DictLoader(
        {
            "layout": _LAYOUT,
            "home": _HOME,
            "customers": _CUSTOMERS,
            "timeline": _TIMELINE,
            "suppressions": _SUPPRESSIONS,
        }
    ),
    autoescape=True,
    extensions=["jinja2.ext.do"],
)
_ENV.filters |= {"count": _count, "when": _when}
_ENV.globals |= {"share": _share, "money": money}


def render(template: str, **context: Any) -> str:
    """One of the pages above (`home`, `customers`, `timeline`, `suppressions`)."""
    return _ENV.get_template(template).render(**context)
