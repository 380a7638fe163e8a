"""``manage.py robot_classify --shop ID``: read buyer messages from standard input, one per line, and write
``intent<TAB>confidence`` per line: the intent the robot detects with the shop's knowledge base, or the
empty intent when it would hand over (confidence below the shop's threshold). An empty line gives an empty
intent and 0."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backoffice.models import Shop
from robot import matching


class Command(BaseCommand):
    help = "Classify buyer messages (stdin, one per line) into intent<TAB>confidence lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--shop", type=int, required=True, help="the shop whose knowledge base answers")

    def handle(self, *args: Any, **options: Any) -> None:
        shop_id = options["shop"]
        if not Shop.objects.filter(pk=shop_id).exists():
            raise CommandError(f"No shop {shop_id}.")
        threshold = matching.shop_threshold(shop_id)
        for line in sys.stdin:
            text = line.rstrip("\r\n")
            if not text.strip():
                self.stdout.write("\t0.0000")
                continue
            _ranked, intent, confidence = matching.rank(shop_id=shop_id, text=text, limit=1)
            self.stdout.write(f"{intent if confidence >= threshold else ''}\t{confidence:.4f}")
