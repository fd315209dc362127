"""The one sandboxed Jinja environment: templates and trigger conditions share it, with strict
undefined names, autoescape and the per-language filters."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import TemplateExpression
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from worker.rendering import bounds, formatting
from worker.rendering.inlining import InliningLoader, OverlayLoader

# What `getattr` finds on a plain dict: the names a template's `mapping.name` reads as a method.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class _BoundedTemplate(Template):
    """Every render runs under its own budget (worker/rendering/bounds.py)."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        with bounds.limited():
            return super().render(*args, **kwargs)


class _BoundedExpression(TemplateExpression):
    """Every condition (`when`, `dedupe`) is evaluated under its own budget."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with bounds.limited():
            return super().__call__(*args, **kwargs)


class _BoundedLoops(CodeGenerator):
    """Compiles `{% for x in items %}` as `{% for x in items|_ladder_loop %}`: a step each."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _LOOP, [], [], None, None, lineno=loop.lineno)
        super().visit_Template(node, frame)


_LOOP = "_ladder_loop"


class _Sandbox(ImmutableSandboxedEnvironment):
    """Money is a Decimal, and `1.5 * before.average_order_value` is what a marketer writes:
    Python refuses float * Decimal, so a float meeting a Decimal is read as the Decimal it spells.

    And every render is bounded in steps, characters and time (worker/rendering/bounds.py).
    """

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    template_class = _BoundedTemplate
    code_generator_class = _BoundedLoops
    concat = staticmethod(bounds.concat)

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
        bounds.check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        bounds.check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def compile_expression(self, source: str, undefined_to_none: bool = True) -> TemplateExpression:
        expression = super().compile_expression(source, undefined_to_none)
        return _BoundedExpression(expression._template, expression._undefined_to_none)


def make_environment(
    templates_dir: Path,
    *,
    inline_css: bool = True,
    auto_reload: bool = False,
    overlay: Mapping[str, str] | None = None,
) -> ImmutableSandboxedEnvironment:
    """Templates and trigger conditions share this sandbox: marketers learn one language.

    `inline_css=False` reads the files as written, so errors point at the lines a marketer
    sees (`ladder check` uses it); sending inlines the stylesheet once per template version.
    `auto_reload` looks for changed files at every render (previews); a worker reads its
    templates once, as it reads its code, and a deploy or a publish builds it again.
    `overlay`: texts by path laid over the files (what the studio published, a draft).
    """
    loader: BaseLoader = (
        InliningLoader(templates_dir, overlay)
        if inline_css
        else OverlayLoader(templates_dir, overlay)
    )
    env = _Sandbox(
        loader=loader,
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=auto_reload,
    )
    env.filters.update(bounds.bounded_filters(env.filters))
    env.filters[_LOOP] = bounds.loop
    env.filters.update(formatting.FILTERS)
    env.globals["namespace"] = bounds.BoundedNamespace
    env.globals["lipsum"] = bounds.bounded_lipsum(env.globals["lipsum"])
    return env
