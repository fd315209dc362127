"""`ladder users`: the studio's accounts from the command line, the first admin included."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from models.db import session
from tests.support.studio import PASSWORD
from worker.cli import app
from worker.runtime import Runtime
from worker.studio import audit, people

pytestmark = pytest.mark.commits  # the command opens its own session


def ladder(*args: str, input: str | None = None) -> tuple[int, str]:
    done = CliRunner().invoke(app, ["users", *args], input=input)
    return done.exit_code, done.output


def test_users_add_asks_for_the_password_twice_without_showing_it(runtime: Runtime) -> None:
    code, output = ladder(
        "add", "Boss@Shop.example", "--role", "admin", input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert code == 0, output
    assert "Repeat for confirmation" in output
    assert PASSWORD not in output
    assert "boss@shop.example can now log in to the studio as admin." in output
    with session(runtime.settings.database_url) as db:
        account = people.find(db, "boss@shop.example")
        assert account is not None and account.role is people.Role.ADMIN
        assert people.password_matches(people.password_hash_of(db, account.id), PASSWORD)
        [line] = audit.latest(db)
    assert (line.actor, line.action, line.subject) == ("cli", "account.add", "boss@shop.example")


def test_users_add_refuses_an_unknown_role_a_short_password_and_a_second_account(
    runtime: Runtime,
) -> None:
    code, output = ladder("add", "a@shop.example", "--role", "owner", "--password", PASSWORD)
    assert code == 1
    assert "unknown role 'owner': choose one of viewer, editor, publisher, admin" in output
    code, output = ladder("add", "a@shop.example", "--role", "editor", "--password", "short")
    assert code == 1
    assert "a password needs at least 12 characters" in output
    assert ladder("add", "a@shop.example", "--role", "editor", "--password", PASSWORD)[0] == 0
    code, output = ladder("add", "A@shop.example", "--role", "viewer", "--password", PASSWORD)
    assert code == 1
    assert "a@shop.example has an account already" in output
    with session(runtime.settings.database_url) as db:
        assert [account.email for account in people.accounts(db)] == ["a@shop.example"]


def test_users_list_role_and_disable(runtime: Runtime) -> None:
    assert "No studio accounts yet" in ladder("list")[1]
    for email, role in [("boss@shop.example", "admin"), ("lena@shop.example", "viewer")]:
        assert ladder("add", email, "--role", role, "--password", PASSWORD)[0] == 0

    code, output = ladder("role", "lena@shop.example", "publisher")
    assert (code, output.strip()) == (0, "lena@shop.example is now publisher.")
    code, output = ladder("disable", "boss@shop.example")
    assert code == 1
    assert "boss@shop.example is the last admin: make another admin first" in output
    assert ladder("disable", "lena@shop.example")[0] == 0

    code, output = ladder("list")
    assert code == 0
    assert max(len(line) for line in output.splitlines()) <= 80
    lines = {line.split()[1]: line for line in output.splitlines() if "@shop.example" in line}
    assert lines["boss@shop.example"].split()[3:8:4] == ["admin", "active"]
    assert lines["lena@shop.example"].split()[3:8:4] == ["publisher", "disabled"]
    assert " - " in lines["lena@shop.example"]  # never logged in
    with session(runtime.settings.database_url) as db:
        lena = people.find(db, "lena@shop.example")
    assert lena is not None and not lena.is_active
    assert ladder("role", "nobody@shop.example", "viewer")[1].startswith(
        "Error: no account for 'nobody@shop.example'"
    )
