"""ASGI entry point for daphne: HTTP through Django, WebSockets through the chat consumers of routing."""

import gc
import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from reports.consumers import MonitorConsumer  # noqa: E402
from robot.matching import warm_up  # noqa: E402
from routing import backpressure  # noqa: E402
from routing.consumers import AgentConsumer, BuyerConsumer  # noqa: E402
from routing.ops_socket import OpsConsumer  # noqa: E402

# Consumers are ASGI applications, which django-stubs' path() (typed for views) does not know.
websocket_urlpatterns: list[Any] = [
    path("ws/agent/", AgentConsumer.as_asgi()),  # type: ignore[arg-type]
    path("ws/buyer/", BuyerConsumer.as_asgi()),  # type: ignore[arg-type]
    path("ws/monitor/", MonitorConsumer.as_asgi()),  # type: ignore[arg-type]
    path("ws/ops/", OpsConsumer.as_asgi()),  # type: ignore[arg-type]
]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The Origin (scheme, host and port) is checked by the consumers (routing.consumers.origin_allowed).
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)

# The robot's first match would load jieba's dictionary and fit its calibration (about 2 s): done here, before
# the first buyer, and frozen with the rest below.
warm_up()
backpressure.install()  # a socket whose reader stalled is closed, not buffered for without limit

# Everything imported and built by now lives as long as the process: take it out of the garbage collector's
# reach, so that a full collection walks only what the connections create. Without this, one full
# collection over the startup objects stalled every chat of the process for ~150 ms once a few seconds into
# a burst (tests/bench/bench_livechat.py: p99 buyer->agent 136-228 ms without, 43-67 ms with).
gc.freeze()
