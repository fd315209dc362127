"""The platforms' bulk code exports, read for a pool: Shopify's discount export (`Code`) and
WooCommerce's coupon CSV (`post_title`, or `coupon_code`)."""

from __future__ import annotations

import csv
import io

MAX_CODE = 255  # the longest code `loyalty_codes.code` and `loyalty_rewards.code` keep
# The column holding the code in each platform's bulk export, lower-cased.
CODE_COLUMNS = {"code": "shopify", "post_title": "woocommerce", "coupon_code": "woocommerce"}


class CodeFileError(Exception):
    """A code export Ladder cannot read, with the line to look at."""


def read_code_file(text: str) -> tuple[str, list[str]]:
    """(the platform whose export it is, its codes upper-cased in file order, each once).
    Raises CodeFileError for a file with no code column or a code too long to keep."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = {name.strip().lower(): name for name in reader.fieldnames or []}
    found = next((column for column in CODE_COLUMNS if column in columns), None)
    if found is None:
        have = ", ".join(columns) or "none"
        raise CodeFileError(
            f"line 1: no code column (Shopify's export has `Code`, WooCommerce's `post_title`"
            f" or `coupon_code`; this file has: {have})"
        )
    codes: dict[str, None] = {}
    for line, row in enumerate(reader, start=2):
        code = (row.get(columns[found]) or "").strip().upper()
        if len(code) > MAX_CODE:
            raise CodeFileError(f"line {line}: a code longer than {MAX_CODE} characters")
        if code:
            codes[code] = None
    return CODE_COLUMNS[found], list(codes)
