"""Delete a shop with everything it holds and the files the apps stored for it (``services.delete_shop``): a
platform operator's tool. It asks nothing: without ``--yes`` it only says what it would delete."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import ProtectedError

from backoffice import services
from backoffice.models import Shop


class Command(BaseCommand):
    help = "Delete a shop, its data and its stored files (chat images, delay-report evidence)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("shop_id", type=int)
        parser.add_argument("--yes", action="store_true", help="really delete (without it: a dry run)")

    def handle(self, *args: Any, **options: Any) -> None:
        shop = Shop.objects.filter(pk=options["shop_id"]).first()
        if shop is None:
            raise CommandError(f"no shop with id {options['shop_id']}")
        if not options["yes"]:
            self.stdout.write(f"would delete shop {shop.pk} ({shop.name}) and its files; add --yes to do it")
            return
        try:
            services.delete_shop(shop=shop)
        except ProtectedError as exc:  # orders keep their buyers (Order.buyer is PROTECT): nothing deleted
            raise CommandError(
                f"shop {shop.pk} keeps records that may not be deleted: {exc.args[0]}"
            ) from exc
        self.stdout.write(f"deleted shop {shop.pk} ({shop.name}) and its files")
