"""The names a condition or template reads that its trigger's context does not have: a typo
(`customer.ordrs_count`), or an order read by a date trigger. Found in Jinja's syntax tree, so
`ladder check` names them before a delivery fails on them at run time."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, TemplateSyntaxError, nodes

from worker.rendering.variables import Absent, Shape

# Names Jinja itself provides inside a template (loops, macros, blocks).
_JINJA_NAMES = frozenset({"loop", "caller", "varargs", "kwargs", "self", "super", "true", "false"})


@dataclass(frozen=True)
class Unknown:
    name: str  # the template (or "" for an expression)
    line: int
    problem: str


def _hint(wanted: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(wanted, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (it has {', '.join(sorted(known))})"


class _Reader:
    """Walks one syntax tree; `found` collects what its names do not match."""

    def __init__(self, env: Environment, top: Mapping[str, Shape], name: str, local: set[str]):
        self.env, self.top, self.name = env, top, name
        self.local = local  # names the template sets itself: not checked
        self.found: list[Unknown] = []

    def miss(self, node: nodes.Node, problem: str) -> None:
        self.found.append(Unknown(self.name, node.lineno, problem))

    def walk(self, node: nodes.Node, scope: Mapping[str, Shape]) -> None:
        if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            self.resolve(node, scope)
        elif isinstance(node, nodes.For):
            inner = dict(scope)
            item = self.resolve(node.iter, scope)  # walks what it cannot resolve
            if isinstance(node.target, nodes.Name):
                inner[node.target.name] = item[0] if isinstance(item, list) else None
            for child in (*node.body, *node.else_, *([node.test] if node.test else [])):
                self.walk(child, inner)
        else:
            for child in node.iter_child_nodes():
                self.walk(child, scope)

    def resolve(self, node: nodes.Node, scope: Mapping[str, Shape]) -> Shape:
        """The shape `node` reads, reporting a name or key that is not there; None when it
        cannot be known (a filter's result, a local variable)."""
        if isinstance(node, nodes.Name):
            return self.name_of(node, scope)
        if isinstance(node, nodes.Getattr):
            return self.key(node, self.resolve(node.node, scope), node.attr)
        if isinstance(node, nodes.Getitem):
            base = self.resolve(node.node, scope)
            arg = node.arg
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                return self.key(node, base, arg.value)
            self.walk(arg, scope)
            if isinstance(base, list) and isinstance(arg, nodes.Const):
                return base[0]  # one item of a sequence
            return base if isinstance(base, list) and isinstance(arg, nodes.Slice) else None
        self.walk(node, scope)
        return None

    def name_of(self, node: nodes.Name, scope: Mapping[str, Shape]) -> Shape:
        if node.ctx != "load":
            return None
        if node.name in scope:
            return scope[node.name]
        if node.name in self.local or node.name in _JINJA_NAMES:
            return None
        if node.name in self.top:
            return self.top[node.name]
        if node.name not in self.env.globals:
            given = _hint(node.name, self.top)
            self.miss(node, f"reads {node.name!r}, which it is never given{given}")
        return None

    def key(self, node: nodes.Node, base: Shape, key: str) -> Shape:
        if isinstance(base, Absent):
            self.miss(node, f"reads {_dotted(node)}, but {base.why}")
            return None
        if isinstance(base, dict):
            if key in base:
                return base[key]
            if key not in dir(dict):  # `.get`, `.items`: what a mapping answers
                self.miss(node, f"reads {_dotted(node)}, which is not there{_hint(key, base)}")
        return None


def _dotted(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_dotted(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_dotted(node.node)}[{node.arg.value!r}]"
    return "…"


def _locals(tree: nodes.Node) -> set[str]:
    """Every name the template binds itself: `set`, loop targets, macro parameters, imports."""
    bound = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    bound |= {m.name for m in tree.find_all(nodes.Macro)}
    for imported in tree.find_all(nodes.FromImport):
        bound |= {name if isinstance(name, str) else name[1] for name in imported.names}
    bound |= {i.target for i in tree.find_all(nodes.Import)}
    return bound


def expression_unknowns(env: Environment, text: str, top: Mapping[str, Shape]) -> list[Unknown]:
    """What a `when`, `send_if` or `dedupe` expression reads that `top` lacks."""
    tree = env.parse("{{ " + text + " }}")
    reader = _Reader(env, top, "", set())
    reader.walk(tree, {})
    return reader.found


def template_unknowns(env: Environment, name: str, top: Mapping[str, Shape]) -> Iterator[Unknown]:
    """What a template, and the layouts and partials it extends and includes, reads that `top`
    lacks. A macro imported from a file sees only its arguments: not followed."""
    seen: set[str] = set()
    waiting = [name]
    while waiting:
        current = waiting.pop()
        if current in seen:
            continue
        seen.add(current)
        source, _, _ = env.loader.get_source(env, current)  # type: ignore[union-attr]
        try:
            tree = env.parse(source, current)
        except TemplateSyntaxError:
            continue  # rendering it names the file and line; nothing here can be read
        reader = _Reader(env, top, current, _locals(tree))
        reader.walk(tree, {})
        yield from reader.found
        links: list[nodes.Extends | nodes.Include] = [
            *tree.find_all(nodes.Extends),
            *tree.find_all(nodes.Include),
        ]
        for link in links:
            if isinstance(link.template, nodes.Const) and isinstance(link.template.value, str):
                waiting.append(link.template.value)
