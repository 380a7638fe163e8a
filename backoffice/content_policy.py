"""The Content-Security-Policy header of every response (django-csp; the policy is
``CONTENT_SECURITY_POLICY`` in settings), plus the one source that depends on the request: the chat sockets
of the page's own host."""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class ConsoleCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, with ``ws://`` and ``wss://`` of the request's host in ``connect-src``.

    CSP Level 3 lets ``'self'`` match the page's own host over ws/wss, but Safari before 16 (and the iOS
    WebViews built on it, where many buyers open the chat page) and Chrome before 71 match it to http(s)
    only: the chat pages would lose their socket there. The host is ``request.get_host()``, checked against
    ALLOWED_HOSTS; a request whose host is refused keeps the static policy."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts
        update = dict(parts.update or {})
        listed = update.get("connect-src") or []
        update["connect-src"] = [
            *([listed] if isinstance(listed, str) else listed),
            f"ws://{host}",
            f"wss://{host}",
        ]
        parts.update = update
        return parts
