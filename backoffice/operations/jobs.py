"""What the shop-operations beat tasks share: the batch bounds and the record of their last runs."""

from __future__ import annotations

from django.db.models.functions import Now

from backoffice.models import OpsJobRun

BATCH = 1000  # rows one transaction claims and acts on
MAX_BATCHES = 200  # batches one run works through at most (200,000 rows); the rest waits for the next run


def record_run(name: str, processed: int) -> None:
    """Note that the task ``name`` finished now (database clock), acting on ``processed`` rows: one upsert,
    safe when two runs finish at once."""
    OpsJobRun.objects.bulk_create(
        [OpsJobRun(name=name, finished_at=Now(), processed=processed)],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["finished_at", "processed"],
    )


def last_runs() -> dict[str, OpsJobRun]:
    return {run.name: run for run in OpsJobRun.objects.all()}
