"""Measuring the robot on text it was not written with (``manage.py robot_eval``), next to the baseline the
issue names: a character n-gram (1-3) TF-IDF nearest neighbour over the same example questions
(scikit-learn), which predicts the entry of the most similar question and never hands over.

A row is (question, expected): an intent code, an entry (its id, or its standard question; for the built-in
set its key), or "" for a question the robot should hand over. The numbers:
- accuracy: share of the rows with an expectation whose top match is right, whatever the confidence;
- top-3: the expected one among the first three;
- hand-off rate: share of all rows whose confidence is below the threshold (the robot would not answer);
- answered right: share of the answered rows that were right (an answered out-of-scope row is wrong);
- out-of-scope handed over: share of the rows expected "" that were handed over.
The baseline's "answered right" is also given at the robot's hand-off rate (it hands over its least similar
rows), so the two are compared at the same coverage. The confusion table counts (expected intent, answered
intent or "—" for a hand-off) per row.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from backoffice.errors import Invalid
from robot import matching
from robot.builtin import BUILTIN, OUT_OF_SCOPE

HANDOFF = "—"


@dataclass(frozen=True)
class Labelled:
    """The entries an evaluation ranks: per entry position its id, intent, questions and the names an
    expectation may use for it."""

    index: matching.ShopIndex
    questions: list[list[str]]
    names: list[set[str]]  # per entry position: its id, key and standard question


@dataclass
class Scores:
    rows: int = 0
    in_scope: int = 0
    right: int = 0
    top3: int = 0
    handed_over: int = 0
    answered: int = 0
    answered_right: int = 0
    out_of_scope: int = 0
    out_of_scope_handed_over: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)

    def share(self, part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    @property
    def accuracy(self) -> float:
        return self.share(self.right, self.in_scope)

    @property
    def top3_accuracy(self) -> float:
        return self.share(self.top3, self.in_scope)

    @property
    def handoff_rate(self) -> float:
        return self.share(self.handed_over, self.rows)

    @property
    def answered_precision(self) -> float:
        return self.share(self.answered_right, self.answered)

    @property
    def out_of_scope_handoff(self) -> float:
        return self.share(self.out_of_scope_handed_over, self.out_of_scope)


@dataclass
class Report:
    robot: Scores
    baseline: Scores
    baseline_at_robot_handoff: float  # the baseline's answered-right share at the robot's hand-off rate
    threshold: float


def read_rows(data: bytes) -> list[tuple[str, str]]:
    """(question, expected) rows of a UTF-8 CSV with a header row (question, expected)."""
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    if "question" not in header or "expected" not in header:
        raise Invalid("The CSV needs a header row with the columns question and expected.")
    q, e = header.index("question"), header.index("expected")
    rows = []
    for cells in reader:
        if len(cells) > max(q, e) and cells[q].strip():
            rows.append((cells[q].strip(), cells[e].strip()))
    return rows


def builtin_labelled() -> Labelled:
    """The built-in set alone, as a new shop has it (no database)."""
    rows = [
        (matching.IndexedEntry(pk=n, intent=b.intent.value, product_id=None), [b.question, *b.similar])
        for n, b in enumerate(BUILTIN)
    ]
    return Labelled(
        index=matching.build_index(rows, negatives=OUT_OF_SCOPE),
        questions=[q for _, q in rows],
        names=[{str(n), b.key, b.question} for n, b in enumerate(BUILTIN)],
    )


def shop_labelled(shop_id: int) -> Labelled:
    """The shop's knowledge base as the robot matches it."""
    from robot.models import KnowledgeEntry

    index = matching.shop_index(shop_id)
    rows = KnowledgeEntry.objects.in_bulk([e.pk for e in index.entries])
    questions = [[rows[e.pk].question, *rows[e.pk].similar_questions] for e in index.entries]
    names = [{str(e.pk), rows[e.pk].builtin_key, rows[e.pk].question} - {""} for e in index.entries]
    return Labelled(index=index, questions=questions, names=names)


def _is_right(labelled: Labelled, position: int, expected: str) -> bool:
    entry = labelled.index.entries[position]
    return expected == entry.intent or expected in labelled.names[position]


def _expected_intent(labelled: Labelled, expected: str) -> str:
    for position, names in enumerate(labelled.names):
        if expected in names:
            return labelled.index.entries[position].intent
    return expected


def evaluate(labelled: Labelled, rows: Sequence[tuple[str, str]], *, threshold: float) -> Report:
    """The robot's and the baseline's numbers on ``rows``."""
    robot = Scores()
    calibration = matching.calibration()
    for text, expected in rows:
        scored = matching.score(labelled.index, text[: matching.MAX_TEXT])
        confidence = calibration.probability(scored.features) if scored.matched else 0.0
        order = [int(p) for p in scored.order[:3]]
        answered = scored.matched and confidence >= threshold
        top_intent = labelled.index.entries[order[0]].intent if order else ""
        _count(robot, labelled, expected, order, answered, top_intent)
    baseline, similarities, rights = _baseline(labelled, rows)
    # The baseline at the robot's hand-off rate: it keeps its most similar rows.
    keep = len(rows) - robot.handed_over
    kept = np.argsort(-similarities, kind="stable")[:keep]
    at_rate = float(np.mean(rights[kept])) if keep else 0.0
    return Report(robot=robot, baseline=baseline, baseline_at_robot_handoff=at_rate, threshold=threshold)


def _count(
    scores: Scores, labelled: Labelled, expected: str, order: list[int], answered: bool, top_intent: str
) -> bool:
    scores.rows += 1
    right = bool(order) and bool(expected) and _is_right(labelled, order[0], expected)
    if expected:
        scores.in_scope += 1
        scores.right += right
        scores.top3 += any(_is_right(labelled, p, expected) for p in order[:3])
    else:
        scores.out_of_scope += 1
        scores.out_of_scope_handed_over += not answered
    if answered:
        scores.answered += 1
        scores.answered_right += right
    else:
        scores.handed_over += 1
    scores.confusion[
        (_expected_intent(labelled, expected) or HANDOFF, top_intent if answered else HANDOFF)
    ] += 1
    return right


def _baseline(labelled: Labelled, rows: Sequence[tuple[str, str]]) -> tuple[Scores, np.ndarray, np.ndarray]:
    """Character 1-3-gram TF-IDF, cosine nearest neighbour over every example question; always answers."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    owners = [p for p, questions in enumerate(labelled.questions) for _ in questions]
    texts = [q for questions in labelled.questions for q in questions]
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=True)
    examples = vectorizer.fit_transform(texts)
    queries = vectorizer.transform([text for text, _ in rows])
    similarity = (queries @ examples.T).toarray()
    scores = Scores()
    best = np.zeros(len(rows))
    rights = np.zeros(len(rows))
    for n, (_text, expected) in enumerate(rows):
        order: list[int] = []
        for row in np.argsort(-similarity[n], kind="stable"):
            if owners[row] not in order:
                order.append(owners[row])
            if len(order) == 3:
                break
        best[n] = similarity[n].max() if similarity.shape[1] else 0.0
        top_intent = labelled.index.entries[order[0]].intent if order else ""
        rights[n] = _count(scores, labelled, expected, order, True, top_intent)
    return scores, best, rights


def format_report(report: Report) -> str:
    """The report as a plain-text table (robot and baseline side by side) and the robot's confusion table."""
    r, b = report.robot, report.baseline
    lines = [
        f"rows: {r.rows} ({r.in_scope} with an expected answer, {r.out_of_scope} to hand over); "
        f"threshold {report.threshold:.2f}",
        "",
        f"{'':28}{'robot':>10}{'baseline':>10}",
        f"{'accuracy (top 1)':28}{r.accuracy:>10.1%}{b.accuracy:>10.1%}",
        f"{'top-3 accuracy':28}{r.top3_accuracy:>10.1%}{b.top3_accuracy:>10.1%}",
        f"{'hand-off rate':28}{r.handoff_rate:>10.1%}{b.handoff_rate:>10.1%}",
        f"{'answered right':28}{r.answered_precision:>10.1%}{b.answered_precision:>10.1%}",
        f"{'  at the same hand-off rate':28}{r.answered_precision:>10.1%}"
        f"{report.baseline_at_robot_handoff:>10.1%}",
        f"{'out of scope handed over':28}{r.out_of_scope_handoff:>10.1%}{b.out_of_scope_handoff:>10.1%}",
        "",
        "robot confusion (rows: expected intent, columns: answered intent, — = handed over)",
    ]
    expected = sorted({e for e, _ in r.confusion})
    answered = sorted({a for _, a in r.confusion})
    width = 7  # columns named by the first letters of the intent code
    lines.append(f"{'':18}" + "".join(f"{a[:width]:>{width + 1}}" for a in answered))
    for e in expected:
        lines.append(
            f"{e[:18]:18}" + "".join(f"{r.confusion.get((e, a), 0) or '.':>{width + 1}}" for a in answered)
        )
    return "\n".join(lines)
