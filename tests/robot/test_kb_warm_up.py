"""A daphne process loads the robot's matching before its first buyer (jieba's dictionary and the
calibration take about 2 s, which the first buyer after every start used to wait for)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_asgi_module_loads_the_robots_matching_before_the_first_buyer() -> None:
    probe = (
        "import backoffice.asgi\n"
        "from robot import matching\n"
        "print(matching._jieba.cache_info().currsize, matching.calibration.cache_info().currsize)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["1", "1"]
