"""The console's language: Simplified Chinese unless the person chose another in the header's language menu.

Django's ``LocaleMiddleware`` would follow the browser's Accept-Language, so a merchant whose browser (or a
shared office machine) is set to English got an English back office on the first visit. The choice in the
menu (Django's ``set_language`` view, kept in the language cookie) is the one that counts; without it the
console speaks ``LANGUAGE_CODE``.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


def chosen_language(request: HttpRequest) -> str:
    """The language of the person's choice (the language cookie) when it is one of ours, else the default."""
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if chosen and translation.check_for_language(chosen):
        try:
            return translation.get_supported_language_variant(chosen)
        except LookupError:
            pass
    return str(settings.LANGUAGE_CODE)


class ConsoleLocaleMiddleware(LocaleMiddleware):
    """``LocaleMiddleware`` (its response handling included), choosing by ``chosen_language`` only."""

    def process_request(self, request: HttpRequest) -> None:
        translation.activate(chosen_language(request))
        request.LANGUAGE_CODE = translation.get_language()
