"""Logging filters named by settings.LOGGING."""

from __future__ import annotations

import logging


class OneLineForbidden(logging.Filter):
    """A 403 (PermissionDenied; CSRF refusals carry no traceback already) is logged as its one message line:
    Django attaches the exception, and its traceback made about 3 KB of log per refused request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
