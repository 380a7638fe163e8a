import pytest
from django.core.exceptions import ImproperlyConfigured

from backoffice.env import env_bool, env_int


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), ("off", False), ("0", False)])
def test_env_bool_reads_the_usual_spellings(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG") is expected


def test_a_bad_boolean_or_integer_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAG", "maybe")
    monkeypatch.setenv("NUM", "ten")
    with pytest.raises(ImproperlyConfigured):
        env_bool("FLAG")
    with pytest.raises(ImproperlyConfigured):
        env_int("NUM", 1)


def test_each_log_line_is_printed_once() -> None:
    """Before: Django's "django" logger had its own console handler beside the root's, so ``runall`` printed
    every request warning ("Not Found: /x") twice."""
    import io
    import logging

    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    try:
        logging.getLogger("django.request").warning("Not Found: /probe")
    finally:
        root.removeHandler(handler)
    printed = [h for h in logging.getLogger("django").handlers if isinstance(h, logging.StreamHandler)]
    assert printed == []  # only the root's handler prints
    assert stream.getvalue().count("Not Found: /probe") == 1
