"""Workbench panels: the parts of the agent workbench that other apps contribute (quick phrases today, the
robot's assist panel next), without routing importing them.

The setting ``WORKBENCH_PANELS`` lists dotted paths to panel functions, resolved once per process; each is
called with the request and the agent's account for every workbench page and returns a ``Panel`` (or None
to stay out, e.g. without a right). The page includes each panel's templates in its slots, loads its styles
and scripts (after ``chat-core.js``, before ``workbench.js``), adds its ``strings`` to the page's string
table and hands its ``data`` to its script.

A panel script registers itself as ``ChatCore.panels[name] = {attach}``. ``workbench.js`` calls
``attach(hooks)`` (hooks: request -> {ok, status, data, headers, error}, toast, send, conversation,
productId, data, strings) and then the
handle's optional ``changed()`` (another chat, or its product, is shown), ``message()`` (the buyer wrote in
the chat on screen), ``reset()`` (the reply box was
emptied) and ``keys`` (Alt+key -> function; the workbench's own keys win).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest
from django.utils.module_loading import import_string

from backoffice.models import StaffAccount


@dataclass(frozen=True)
class Panel:
    name: str  # the script's registry key
    template: str = ""  # in the right column, under the buyer
    composer_template: str = ""  # just above the reply box (a suggestion list)
    help_template: str = ""  # appended to the key help line
    scripts: tuple[str, ...] = ()  # static paths
    styles: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    strings: dict[str, str] = field(default_factory=dict)

    def client(self) -> dict[str, Any]:
        """What the page's script gets (``initial.panels``); the strings join ``initial.strings``."""
        return {"name": self.name, "data": self.data}


PanelFunction = Callable[[HttpRequest, StaffAccount], Panel | None]


@functools.cache
def panel_functions() -> tuple[PanelFunction, ...]:
    return tuple(cast(PanelFunction, import_string(path)) for path in settings.WORKBENCH_PANELS)


def workbench_panels(request: HttpRequest, staff: StaffAccount) -> list[Panel]:
    return [panel for make in panel_functions() if (panel := make(request, staff)) is not None]
