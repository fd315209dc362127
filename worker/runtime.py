"""What every actor needs, built once per process: settings, triggers, templates, provider."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TypeVar

from sqlmodel import Session

from models.studio import FileKind
from triggers import TriggerError, TriggerSet, load_triggers
from triggers.broadcast import Broadcast, load_broadcasts
from triggers.programme import Programme, load_programme
from triggers.series import Series, load_all_series
from worker import current_time
from worker.audience.segments import segment_names
from worker.loyalty.codes import CodeIssuer
from worker.measurement import abc, rung_scheme
from worker.providers import Provider
from worker.providers.registry import build_provider
from worker.rendering import published
from worker.rendering.renderer import Renderer
from worker.settings import Settings, get_settings
from worker.sources.shopify_discounts import ShopifyDiscounts
from worker.sources.woocommerce_coupons import WooCommerceCoupons

logger = logging.getLogger(__name__)

# How often a process looks whether the studio published something: one indexed number.
FOLLOW_EVERY_S = 1.0


@dataclass
class Runtime:
    settings: Settings
    # The studio's publications this process renders and matches with (0: the files as in git),
    # and when it looks again (a monotonic time).
    generation: int = field(default=0, init=False)
    # A publication this process could not load (a worker of another release): not read again.
    _refused: int | None = field(default=None, init=False, repr=False)
    _look_again_at: float = field(default=0.0, init=False, repr=False)

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer(self.settings.templates_dir, self.settings.default_locale)

    @cached_property
    def triggers(self) -> TriggerSet:
        """Validated at start: an invalid trigger file stops the process with its name and line."""
        env = self.renderer.env
        return TriggerSet.build(env, load_triggers(self.settings.triggers_dir, env))

    def follow(self, db: Session) -> None:
        """Takes up what the studio published since this process last looked, at most once a
        second, so a publish reaches every worker within about a second and no restart.

        Call it at the start of a unit of work: it ends the transaction its read began (on
        SQLite a read left open would refuse the writes that follow)."""
        now = time.monotonic()
        if now < self._look_again_at:
            return
        self._look_again_at = now + FOLLOW_EVERY_S
        generation = published.generation(db)
        if generation not in (self.generation, self._refused):
            self._take_up(db, generation)
        db.commit()

    def _take_up(self, db: Session, generation: int) -> None:
        settings = self.settings
        templates = published.live(db, FileKind.TEMPLATE)
        trigger_files = published.live(db, FileKind.TRIGGER)
        renderer = Renderer(settings.templates_dir, settings.default_locale, published=templates)
        try:
            found = load_triggers(settings.triggers_dir, renderer.env, trigger_files.bodies)
            triggers = TriggerSet.build(renderer.env, found)
            broadcasts = _enabled(
                load_broadcasts(settings.broadcasts_folder, _bodies(db, FileKind.BROADCAST))
            )
            series = _enabled(load_all_series(settings.series_folder, _bodies(db, FileKind.SERIES)))
        except TriggerError as exc:  # the studio publishes only what passed the checks
            logger.error(
                "publication %d is not taken up (this process keeps publication %d until the "
                "next publish): %s",
                generation,
                self.generation,
                exc,
            )
            self._refused = generation
            return
        # Each a whole new object: a thread rendering with the old one finishes with it.
        self.__dict__["renderer"], self.__dict__["triggers"] = renderer, triggers
        self.__dict__["broadcasts"], self.__dict__["series"] = broadcasts, series
        self.generation = generation
        logger.info("took up publication %d", generation, extra={"generation": generation})

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
        """The enabled broadcast files by name, validated at start like the triggers (and,
        after `follow`, with the studio's published versions laid over them)."""
        return _enabled(load_broadcasts(self.settings.broadcasts_folder))

    @cached_property
    def series(self) -> dict[str, Series]:
        """The enabled content series files by name, as the broadcasts."""
        return _enabled(load_all_series(self.settings.series_folder))

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


F = TypeVar("F", Broadcast, Series)


def _enabled(found: list[F]) -> dict[str, F]:
    return {item.name: item for item in found if item.enabled}


def _bodies(db: Session, kind: FileKind) -> Mapping[str, str]:
    return published.live(db, kind).bodies


@lru_cache
def get_runtime() -> Runtime:
    return Runtime(get_settings())


@contextmanager
def in_process(overrides: Mapping[str, str]) -> Iterator[Runtime]:
    """The runtime the actors see (through get_runtime()) with these settings and the
    in-process broker whatever the shell says; the environment, the cached settings and the
    frozen clock are restored when the block ends."""
    saved = {name: os.environ.get(name) for name in [*overrides, "REDIS_URL", "BROKER_URL"]}
    os.environ.update(overrides)
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("BROKER_URL", None)
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
