"""What every actor needs, built once per process: settings, triggers, templates, provider."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

from triggers import TriggerSet, load_triggers
from worker.providers import Provider, build_provider
from worker.rendering import Renderer
from worker.settings import Settings, get_settings


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
    def provider(self) -> Provider:
        return build_provider(self.settings)


@lru_cache
def get_runtime() -> Runtime:
    return Runtime(get_settings())
