"""``manage.py robot_eval FILE [--shop ID] [--threshold T]``: the robot's accuracy, top-3 accuracy, hand-off
rate and confusion table on a CSV of (question, expected), next to the character n-gram TF-IDF
nearest-neighbour baseline on the same example questions (``robot.evaluation``). Without ``--shop``, the
built-in set as a new shop has it; the threshold defaults to the shop's (the default for the built-in set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backoffice.errors import Invalid
from backoffice.models import Shop
from robot import evaluation, matching
from robot.models.switch import DEFAULT_THRESHOLD


class Command(BaseCommand):
    help = (
        "Measure the robot's matching on a CSV of (question, expected entry or intent), beside the baseline."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", help="CSV with a header row: question,expected (expected: '' = hand over)"
        )
        parser.add_argument(
            "--shop", type=int, default=None, help="the shop's knowledge base (default: built-in)"
        )
        parser.add_argument("--threshold", type=float, default=None, help="answer threshold 0-1")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rows = evaluation.read_rows(Path(options["file"]).read_bytes())
        except (OSError, UnicodeDecodeError, Invalid) as exc:
            raise CommandError(str(exc)) from exc
        if not rows:
            raise CommandError("The file has no rows below its header.")
        shop_id = options["shop"]
        if shop_id is not None:
            if not Shop.objects.filter(pk=shop_id).exists():
                raise CommandError(f"No shop {shop_id}.")
            labelled = evaluation.shop_labelled(shop_id)
            threshold = matching.shop_threshold(shop_id)
        else:
            labelled = evaluation.builtin_labelled()
            threshold = DEFAULT_THRESHOLD
        if options["threshold"] is not None:
            threshold = options["threshold"]
            if not 0 <= threshold <= 1:
                raise CommandError("The threshold is a number from 0 to 1.")
        report = evaluation.evaluate(labelled, rows, threshold=threshold)
        self.stdout.write(evaluation.format_report(report))
