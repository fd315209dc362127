"""Per-topic payload shapes: a platform signs the body, not the topic header, so a validly
signed body can be sent again under another topic. Before anything acts on a payload, it must
have its topic's shape; a body of another resource is refused with the field that says so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from worker.sources import Unreadable

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Shape:
    """What a topic's payload must hold, and what it must not (another resource's fields)."""

    resource: str  # named in the reason: "an order"
    required: frozenset[str]
    forbidden: frozenset[str] = frozenset()
    gid: str | None = None  # the GraphQL type a Shopify `admin_graphql_api_id` must name

    def check(self, topic: str, payload: Mapping[str, Any]) -> None:
        """Unreadable naming the first field that says this is not `resource`."""
        for name in sorted(self.required):
            if name not in payload:
                raise Unreadable(f"a {topic} body is {self.resource}: field {name!r} is missing")
        for name in sorted(self.forbidden):
            if name in payload:
                raise Unreadable(
                    f"a {topic} body is {self.resource}: field {name!r} belongs to another "
                    "resource (a body signed for another topic?)"
                )
        gid = payload.get("admin_graphql_api_id")
        named = gid is None or str(gid).startswith(f"gid://shopify/{self.gid}/")
        if self.gid is not None and not named:
            raise Unreadable(
                f"a {topic} body is {self.resource}: field 'admin_graphql_api_id' names "
                "another resource (a body signed for another topic?)"
            )


def validated(model: type[M], topic: str, payload: Mapping[str, Any]) -> M:
    """`payload` as `model`, or Unreadable naming each field that does not fit (no values)."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(body)'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        raise Unreadable(f"not a {topic} body: {fields}") from exc
