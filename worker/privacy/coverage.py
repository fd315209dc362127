"""What forgetting a customer does to every column that can hold text, table by table.

`tests/unit/test_erasure_coverage.py` fails for a table or a column missing here: say what
erases it (worker/privacy/erasure.py, worker/privacy/folders.py), or why it names nobody.
"""

from __future__ import annotations

# Every table, and what forgetting a customer does to each of its columns that can hold text
# (strings, JSON, bytes, dates). `tests/unit/test_erasure_coverage.py` fails for a table or a
# column missing here: say what erases it, or why it names nobody.
COVERAGE: dict[str, dict[str, str]] = {
    "customers": {
        "email": "replaced by forgotten-<id>@invalid",
        "first_name": "cleared",
        "last_name": "cleared",
        "birthday": "cleared",
        "referred_by": "cleared, and in the rows of those they referred",
        "locale": "kept: a language, shared by many",
        "timezone": "kept: a zone, shared by many",
        "consent_source": "kept: a platform or link name",
        "currency": "kept: a currency code",
        "rfm": "kept: a score",
        "segment": "kept: a segment name",
        "previous_segment": "kept: a segment name",
        "abc": "kept: a class letter",
        "rung": "kept: a rung name",
        "previous_rung": "kept: a rung name",
    },
    "customer_external_ids": {
        "source": "row deleted",
        "external_id": "row deleted",
        "account": "row deleted",
    },
    "events": {
        "payload": "customer replaced by the placeholder address, data emptied",
        "error": "cleared where it quotes the address",
        "source": "kept: a platform name",
        "source_event_id": "kept: the platform's event id",
        "type": "kept: an event type",
        "status": "kept: a state",
    },
    "inbox": {
        "body": "personal fields set to null (PERSONAL_KEYS); emptied if not JSON",
        "headers": "kept, with ladder-redacted-at: platform headers name no person",
        "error": "kept: reasons never quote values",
        "source": "kept: a platform name",
        "topic": "kept: a topic",
        "dedupe_key": "kept: a webhook id or a digest",
        "status": "kept: a state",
    },
    "provider_events": {
        "payload": "personal fields set to null (email, ip, useragent, url, reason …)",
        "provider": "kept: a provider name",
        "provider_event_id": "kept: the provider's event id",
        "type": "kept: an event type",
    },
    "deliveries": {
        "reason": "cleared where it quotes the address (a bounce's words)",
        "dedupe_key": "kept: trigger and event id",
        "trigger": "kept: a trigger name",
        "message": "kept: a message name",
        "variant": "kept: a template name",
        "segment": "kept: a segment name",
        "status": "kept: a state",
        "message_class": "kept: a class",
        "provider_message_id": "kept: the provider's id",
        "ab_variant": "kept: an A/B variant name",
        "attribution": "kept: a rule name",
    },
    "broadcast_runs": {
        "broadcast": "kept: a broadcast name, naming nobody",
        "occurs_on": "kept: a date, naming nobody",
        "status": "kept: a state",
        "winner": "kept: a variant's name",
        "winner_note": "kept: each variant's score, over all its customers",
    },
    "attributions": {
        "trigger": "kept: an anonymous link of an order to an email, like the orders",
        "rule": "kept: a rule name",
    },
    "clv_fits": {
        "as_of": "kept: a day",
        "parameters": "kept: the models' parameters, over all customers, naming nobody",
        "problem": "kept: why a fit failed, in words about the data as a whole",
    },
    "ladder_moves": {
        "from_rung": "kept: an anonymous move between rungs, like the orders",
        "to_rung": "kept: a rung name",
    },
    "suppressions": {"email": "row deleted", "reason": "row deleted"},
    "preferences": {"message_class": "kept: a class", "source": "kept: where it was set"},
    "privacy_records": {
        "kind": "kept: the record of the request, naming nobody",
        "source": "kept",
        "reference": "kept: the platform's request id or a digest",
        "path": "kept: names the customer id only; the file is deleted",
        "account": "kept: a shop domain",
    },
    "orders": {
        "source": "kept: anonymous aggregate",
        "source_order_id": "kept: the platform's order id",
        "status": "kept",
        "currency": "kept",
    },
    "order_refunds": {"refund_key": "kept: the platform's refund id or an event id"},
    "order_lines": {
        "product_id": "kept: a product",
        "title": "kept: a product",
        "category": "kept: a product",
    },
    "product_recommendations": {
        "anchor": "kept: products, no person",
        "product_id": "kept",
        "title": "kept",
        "category": "kept",
        "currency": "kept",
    },
    "loyalty_entries": {
        "cause": "kept: names orders and requests by id, no person",
        "kind": "kept: a kind of entry",
        "reason": "cleared: an adjustment's words may name the person (a donation's cause and"
        " a refusal's words, Ladder's own, are kept: the causes' totals count them)",
    },
    "loyalty_members": {"tier": "kept: a tier name"},
    "loyalty_rewards": {
        "reward": "kept: a reward name",
        "cause": "kept: names customers and orders by id, no person",
        "state": "kept: a state",
        "reason": "kept: Ladder's own words, never quoting a value",
        "code": "kept: a random code, which the shop's platform holds too",
        "code_source": "kept: a platform name",
        "issue_error": "kept: the platform's refusal of a code, naming no person",
    },
    "loyalty_codes": {
        "reward": "kept: a reward name",
        "code": "kept: a random code of the shop's pool",
        "source": "kept: a platform name",
    },
    "loyalty_fingerprints": {"kind": "row deleted", "digest": "row deleted"},
    "loyalty_sweepstake_entries": {
        "sweepstake": "kept: a sweepstake name",
        "cause": "kept: names the sweepstake and an event by id, no person",
    },
    "loyalty_sweepstake_draws": {
        "sweepstake": "kept: a sweepstake name",
        "seed": "kept: a digest of the entries' causes",
        "winners": "kept: customer ids and tickets, no person (the draw stays verifiable)",
    },
    "loyalty_memberships": {
        "subscription_id": "cleared: the Stripe subscription names the person there",
        "plan": "kept: a price id",
        "status": "kept: a state",
    },
    "leases": {"name": "kept: a job name", "holder": "kept: a process id"},
    "sending_pauses": {"provider": "kept", "reason": "kept: the provider's refusal"},
    # The studio's rows are the shop's own work: templates and the staff who edited them.
    "studio_versions": {
        "kind": "kept: a folder name",
        "path": "kept: a file name",
        "body": "kept: a template or trigger file, written by the shop, about no customer",
        "author": "kept: a staff account, not a customer",
        "note": "kept: the editor's note on a version",
        "problems": "kept: what the checks said about the file",
    },
    "studio_publications": {
        "kind": "kept: a folder name",
        "path": "kept: a file name",
        "published_by": "kept: a staff account, not a customer",
    },
    "studio_audit": {
        "actor": "kept: a staff account, not a customer",
        "action": "kept: what was done",
        "subject": "kept: a file or a staff account; never a customer",
        "detail": "kept: versions and roles, never a customer's data",
    },
    # The studio's people are the shop's staff, never its customers.
    "studio_accounts": {
        "email": "kept: a staff account, not a customer",
        "password_hash": "kept: an argon2 hash of a staff password",
        "role": "kept: a role name",
    },
    "studio_sessions": {"token_digest": "kept: a digest of a staff login's random token"},
    "studio_login_attempts": {
        "email_digest": "kept: a digest of the e-mail typed at the studio's login",
        "client_digest": "kept: a digest of the address a staff login came from",
    },
}
