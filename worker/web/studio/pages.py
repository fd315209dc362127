"""What the studio's pages share: the style, and the bar naming who is logged in."""

from __future__ import annotations

from jinja2 import Environment
from markupsafe import Markup

from worker.web.studio.accounts import Person, Role

STYLE = """
body { font-family: system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }
form { display: flex; gap: 8px; align-items: end; flex-wrap: wrap; margin-bottom: 12px; }
label { display: flex; flex-direction: column; font-size: 12px; color: #555; }
table { border-collapse: collapse; background: #fff; margin-bottom: 16px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; font-size: 14px; }
.warnings { background: #fff4e5; border: 1px solid #f0b37e; padding: 8px 12px;
  margin-bottom: 12px; }
.sent { background: #eef8ee; border: 1px solid #8c8; padding: 8px 12px; margin-bottom: 12px; }
.hint { color: #666; font-size: 12px; }
"""
# The bar's own rules, for pages with a style of their own (the preview's).
WHO_STYLE = """
#who { display: flex; gap: 12px; align-items: center; justify-content: flex-end;
  font-size: 13px; color: #555; margin-bottom: 8px; }
#who form { margin: 0; }
"""
STYLE += WHO_STYLE

_BAR = Environment(autoescape=True).from_string(
    """<div id="who"><a href="/studio/preview">Preview</a>
{% if admin %}<a href="/studio/people" id="people-link">People</a>{% endif %}
<span>Logged in as <strong id="me">{{ person.email }}</strong> ({{ person.role }})</span>
<form method="post" action="/studio/logout"><input type="hidden" name="token" value="{{ token }}">
<button type="submit" id="log-out">Log out</button></form></div>"""
)


def who_bar(person: Person, token: str) -> Markup:
    """The line at the top of every studio page: who, their role, links, the logout button."""
    return Markup(_BAR.render(person=person, token=token, admin=person.role.allows(Role.ADMIN)))
