"""The email providers by EMAIL_BACKEND: one line each."""

from __future__ import annotations

from collections.abc import Callable

from worker.providers import Provider
from worker.providers.console import ConsoleProvider
from worker.providers.files import FileProvider
from worker.providers.postmark import PostmarkProvider
from worker.providers.sendgrid import SendGridProvider
from worker.providers.smtp import SmtpProvider
from worker.settings import EmailBackend, Settings

PROVIDERS: dict[EmailBackend, Callable[[Settings], Provider]] = {
    EmailBackend.FILE: FileProvider.from_settings,
    EmailBackend.CONSOLE: ConsoleProvider.from_settings,
    EmailBackend.SENDGRID: SendGridProvider.from_settings,
    EmailBackend.SMTP: SmtpProvider.from_settings,
    EmailBackend.POSTMARK: PostmarkProvider.from_settings,
}


def build_provider(settings: Settings) -> Provider:
    return PROVIDERS[settings.email_backend](settings)
