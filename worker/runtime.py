"""What every actor needs, built once per process: settings, triggers, templates, provider."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, lru_cache

from triggers import TriggerSet, load_triggers
from triggers.broadcast import Broadcast, load_broadcasts
from triggers.programme import Programme, load_programme
from triggers.series import Series, load_all_series
from worker import current_time
from worker.audience.segments import segment_names
from worker.loyalty.codes import CodeIssuer
from worker.measurement import abc, rung_scheme
from worker.providers import Provider
from worker.providers.registry import build_provider
from worker.rendering.renderer import Renderer
from worker.settings import Settings, get_settings
from worker.sources.shopify_discounts import ShopifyDiscounts
from worker.sources.woocommerce_coupons import WooCommerceCoupons


@dataclass
class Runtime:
    settings: Settings

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer(self.settings.templates_dir, self.settings.default_locale)

    @cached_property
    def triggers(self) -> TriggerSet:
        """Validated at start: an invalid trigger file stops the process with its name and line."""
        env = self.renderer.env
        return TriggerSet.build(env, load_triggers(self.settings.triggers_dir, env))

    @cached_property
    def abc_scheme(self) -> abc.Scheme:
        """measurement/abc.toml, read at start: a broken file stops the process, named."""
        return abc.load_scheme(self.settings.measurement_dir / "abc.toml")

    @cached_property
    def rung_scheme(self) -> rung_scheme.Scheme | None:
        """measurement/rungs.toml, read at start like abc.toml; None: no such file, no ladder."""
        path = rung_scheme.default_path(self.settings.measurement_dir)
        return rung_scheme.load_scheme(path, segments=segment_names())

    @cached_property
    def broadcasts(self) -> dict[str, Broadcast]:
        """The enabled broadcast files by name, validated at start like the triggers."""
        found = load_broadcasts(self.settings.broadcasts_folder)
        return {broadcast.name: broadcast for broadcast in found if broadcast.enabled}

    @cached_property
    def series(self) -> dict[str, Series]:
        """The enabled content series files by name, validated at start like the triggers."""
        found = load_all_series(self.settings.series_folder)
        return {series.name: series for series in found if series.enabled}

    @cached_property
    def programme(self) -> Programme | None:
        """The loyalty programme (`triggers/programmes/`), validated at start like triggers."""
        return load_programme(self.settings.triggers_dir, self.settings.loyalty_programme)

    @cached_property
    def code_issuers(self) -> dict[str, CodeIssuer]:
        """The platforms whose APIs create reward codes, those configured (README)."""
        found: list[CodeIssuer | None] = [
            ShopifyDiscounts.from_settings(self.settings),
            WooCommerceCoupons.from_settings(self.settings),
        ]
        return {issuer.platform: issuer for issuer in found if issuer is not None}

    @cached_property
    def provider(self) -> Provider:
        return build_provider(self.settings)


@lru_cache
def get_runtime() -> Runtime:
    return Runtime(get_settings())


@contextmanager
def in_process(overrides: Mapping[str, str]) -> Iterator[Runtime]:
    """The runtime the actors see (through get_runtime()) with these settings and the
    in-process broker whatever the shell says; the environment, the cached settings and the
    frozen clock are restored when the block ends."""
    saved = {name: os.environ.get(name) for name in [*overrides, "REDIS_URL"]}
    os.environ.update(overrides)
    os.environ.pop("REDIS_URL", None)
    _clear_caches()
    try:
        yield get_runtime()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _clear_caches()
        current_time.freeze(None)


def _clear_caches() -> None:
    get_settings.cache_clear()
    get_runtime.cache_clear()
