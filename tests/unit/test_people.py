"""The studio's roles, passwords and the checks on what people type (no database)."""

from __future__ import annotations

import pytest

from worker.studio import people
from worker.studio.people import PeopleError, Role
from worker.web.studio.accounts import safe_next


def test_each_role_includes_the_ones_below_it_and_none_above() -> None:
    order = [Role.VIEWER, Role.EDITOR, Role.PUBLISHER, Role.ADMIN]
    for rank, role in enumerate(order):
        assert [role.allows(other) for other in order] == [i <= rank for i in range(4)]


def test_a_role_is_read_in_any_case_and_an_unknown_one_lists_the_roles() -> None:
    assert people.parse_role(" Publisher ") is Role.PUBLISHER
    with pytest.raises(PeopleError, match=r"choose one of viewer, editor, publisher, admin$"):
        people.parse_role("owner")


def test_a_password_is_stored_as_argon2id_and_only_it_matches() -> None:
    stored = people.hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert people.password_matches(stored, "correct horse battery staple")
    assert not people.password_matches(stored, "correct horse battery stapler")
    assert not people.password_matches("not a hash", "correct horse battery staple")


def test_no_hash_never_matches_even_the_decoys_password() -> None:
    decoy = "a password nobody has, for the time an unknown e-mail takes"
    assert not people.password_matches(None, decoy)


def test_a_short_password_is_refused_naming_the_minimum() -> None:
    with pytest.raises(PeopleError, match="a password needs at least 12 characters"):
        people.hash_password("eleven-char")
    people.check_password("twelve-chars")


@pytest.mark.parametrize(
    "typed", ["nobody", "a@b", "two words@shop.example", "@shop.example", "ana\x00@shop.example"]
)
def test_what_cannot_be_an_address_is_refused(typed: str) -> None:
    with pytest.raises(PeopleError, match="is not an e-mail address"):
        people.normalise_email(typed)


def test_an_address_is_kept_lower_case() -> None:
    assert people.normalise_email("  Ana@Shop.Example ") == "ana@shop.example"


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("/studio/people", "/studio/people"),
        ("/studio/preview?message=win_back", "/studio/preview?message=win_back"),
        ("", "/studio/preview"),
        ("https://evil.example/studio/", "/studio/preview"),
        ("//evil.example/studio/", "/studio/preview"),
        ("/studio/\\evil.example", "/studio/preview"),
        ("/elsewhere", "/studio/preview"),
        ("/studio/login?next=/studio/people", "/studio/preview"),
    ],
)
def test_after_logging_in_only_a_studio_page_of_this_site_is_a_destination(
    target: str, landing: str
) -> None:
    assert safe_next(target) == landing
