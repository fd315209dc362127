"""The one sandboxed Jinja environment: templates and trigger conditions share it, with strict
undefined names, autoescape and the per-language filters."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, FileSystemLoader, StrictUndefined
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from worker.rendering import formatting
from worker.rendering.inlining import InliningLoader

# What `getattr` finds on a plain dict: the names a template's `mapping.name` reads as a method.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Sandbox(ImmutableSandboxedEnvironment):
    """Money is a Decimal, and `1.5 * before.average_order_value` is what a marketer writes:
    Python refuses float * Decimal, so a float meeting a Decimal is read as the Decimal it spells.
    """

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`customer.first_name` on a dict, as Jinja reads it (an attribute of that name first,
        then the item), without the AttributeError Jinja raises and catches on every lookup."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if isinstance(left, float) and isinstance(right, Decimal):
            left = Decimal(repr(left))
        elif isinstance(left, Decimal) and isinstance(right, float):
            right = Decimal(repr(right))
        return super().call_binop(context, operator, left, right)


def make_environment(
    templates_dir: Path, *, inline_css: bool = True, auto_reload: bool = False
) -> ImmutableSandboxedEnvironment:
    """Templates and trigger conditions share this sandbox: marketers learn one language.

    `inline_css=False` reads the files as written, so errors point at the lines a marketer
    sees (`ladder check` uses it); sending inlines the stylesheet once per template version.
    `auto_reload` looks for changed files at every render (previews); a worker reads its
    templates once, as it reads its code, and a deploy restarts it.
    """
    loader: BaseLoader = (
        InliningLoader(templates_dir) if inline_css else FileSystemLoader(templates_dir)
    )
    env = _Sandbox(
        loader=loader,
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=auto_reload,
    )
    env.filters.update(formatting.FILTERS)
    return env
