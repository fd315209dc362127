"""What the studio's login, people and preview pages share: the style, and the bar naming
who is logged in with the logout button."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from jinja2 import Environment
from markupsafe import Markup

from worker import current_time
from worker.settings import Settings
from worker.web.deps import settings_of
from worker.web.studio import accounts
from worker.web.studio.accounts import Person, Role, require_role

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
# The bar's rules: a line of its own on the people page, in the top right corner of the
# preview (out of the flow, so the preview's layout and its screenshot stay as they were).
BAR_STYLE = """
#who { display: flex; gap: 10px; align-items: center; justify-content: flex-end;
  font-size: 12px; color: #555; margin-bottom: 8px; }
#logout-form { display: none; }  /* `hidden` alone loses to the pages' `form { display: flex }` */
"""
WHO_STYLE = (
    BAR_STYLE
    + """
#who { position: absolute; top: 2px; right: 16px; margin: 0; }
"""
)
STYLE += BAR_STYLE

_BAR = Environment(autoescape=True).from_string(
    """<div id="who">
{% if admin %}<a href="/studio/people" id="people-link">People</a>{% endif %}
<span><strong id="me">{{ person.email }}</strong> ({{ person.role }})</span>
<button type="submit" id="log-out" form="logout-form">Log out</button></div>"""
)
_LOGOUT = Environment(autoescape=True).from_string(
    """<form method="post" action="/studio/logout" id="logout-form" hidden>
<input type="hidden" name="token" value="{{ token }}"></form>"""
)


def who_bar(person: Person) -> Markup:
    """Who is logged in, their role, the people page for admins and the logout button: at the
    top of every studio page (the button names its form, posted from outside any other)."""
    return Markup(_BAR.render(person=person, admin=person.role.allows(Role.ADMIN)))


def logout_form(token: str) -> Markup:
    """The form the logout button posts, once per page, outside any other form."""
    return Markup(_LOGOUT.render(token=token))


@dataclass(frozen=True)
class Seen:
    """Who a studio page is for: their settings, who they are, their forms' tokens."""

    request: Request
    settings: Settings
    person: Person

    def token(self) -> str:
        return accounts.form_token(self.request, self.settings, current_time.now())

    def check(self, token: str) -> None:
        """403 for a form that did not come from a page of this session."""
        accounts.check_form(self.request, self.settings, token, current_time.now())

    def may(self, role: Role) -> bool:
        return self.person.role.allows(role)

    def chrome(self) -> dict[str, object]:
        """What every page shows of who is logged in: the bar, its logout form, the token."""
        token = self.token()
        return {"token": token, "who": who_bar(self.person), "logout": logout_form(token)}


def seen_by(role: Role, *, api: bool = False) -> Callable[..., Seen]:
    """A dependency: the page's `Seen`, for a person who holds `role` (see `require_role`)."""
    needed = Depends(require_role(role, api=api))

    # The default, not an annotation: the annotations of a function made here are read as
    # strings in the module's namespace, where `needed` is not.
    def dependency(request: Request, person: Person = needed) -> Seen:
        return Seen(request, settings_of(request), person)

    return dependency
