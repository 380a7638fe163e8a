"""Matching a buyer's message against the shop's knowledge base: the best entries with calibrated confidence,
and the buyer's intent.

How a text becomes features (``features``), both sides the same way:
- ``backoffice.text.compact``: the shared normalizer (full/half width, traditional to simplified, case),
  punctuation, symbols and emoji stripped, repeated characters collapsed;
- Chinese characters as unigrams and bigrams (``c:`` ``b:``) and jieba's words of two or more characters
  (``w:``): character n-grams find what segmentation splits differently;
- pinyin folding: every Chinese character's toneless pinyin (``p:`` syllables, ``q:`` syllable bigrams), so
  a homophone typo (法货 for 发货) matches, and initial-letter bigrams (``j:``), so initials match
  (kd = 快递);
- Latin words typed by the buyer: a word that splits into pinyin syllables ("fahuo", "dao") joins the pinyin
  features; any other word counts as initials (kd, yhq) and as itself (``l:``, for hi, xl); short numbers
  as ``d:`` (sizes); links and numbers of ``LONG_NUMBER`` digits or more (order, tracking and phone
  numbers) give no feature, so they neither match nor dilute the confidence.

Ranking: BM25 (k1 1.2, b 0.75) over every standard and similar question of the enabled entries, an entry
scoring its best question, times the probability of the entry's intent from a linear intent classifier (a
one-vs-rest linear SVM on the TF-IDF of the same features, trained on the shop's own questions when its
index is built, with an extra class "none" learnt from ``robot.builtin.OUT_OF_SCOPE``). Entries with a
product scope take part only for a buyer who came from that product and are preferred there (their score
counts ``SCOPE_BOOST`` times).

Confidence: neither the BM25 score nor the classifier's score is a confidence (BM25 grows with the
message's length). The top match is described by length-free features (the classifier's score of its intent
and its margin, the "none" score, the share of the message's feature weight matched, the share of the best
question's, the message's size) and a logistic calibration maps them to the probability that the top intent
is right. The calibration is fitted once per process on the built-in examples by 5-fold cross-validation
(each example matched against an index built without it), plus two-sentence messages (a greeting and a
question) and the out-of-scope messages (never right): so a confidence of 0.8 means about 80 % right for a
short or a long message alike, and one shop threshold (``RobotSettings.threshold``, default 0.5) serves
every message. Below the threshold the robot does not guess: ``MatchResult.intent`` is "" and
``confident`` returns None. A lower candidate's confidence is the top one's scaled by its ranking score.

The index of a shop is cached per process (``backoffice.text.StampedShopCache``, name "robot_kb"); every write
of ``robot.knowledge`` calls ``changed`` first in its transaction, and the next match rebuilds the shop's
index (about 1 s for 5,000 entries: the questions' features stay cached per process, ``MAX_CACHED_TEXTS``).
jieba's bundled dictionary is loaded once per process, quietly (about 0.8 s on this machine), and the
calibration is fitted once (under a second); nothing is downloaded.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from backoffice.text import StampedShopCache, compact
from robot.models import KnowledgeEntry, RobotSettings
from robot.models.switch import DEFAULT_THRESHOLD

K1 = 1.2
B = 0.75
SCOPE_BOOST = 1.25
MAX_SHOPS = 64
MAX_TEXT = 2000
# Question texts whose features stay cached per process (about 1 KB each): a rebuild after a write.
MAX_CACHED_TEXTS = 60_000
# Feature weights by kind: exact characters and words weigh most, folded pinyin and initials less (they
# also match what merely sounds alike).
WEIGHTS = {"c": 1.0, "b": 1.6, "w": 1.4, "p": 0.5, "q": 1.0, "j": 0.5, "l": 1.2, "d": 0.6}

_PIECES = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z]+|[0-9]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A link (a product or order page pasted into the chat) says nothing about the intent by its letters.
_LINK = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Digit runs this long are order, tracking or phone numbers: no feature (a size such as 160 or 38 is one).
LONG_NUMBER = 5
_jieba_lock = threading.Lock()


# --- features ----------------------------------------------------------------------------------------------


@functools.cache
def _jieba() -> Any:
    """jieba with its bundled dictionary, loaded once and quietly (no network, no cache file chatter)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    with _jieba_lock:
        jieba.initialize()
    return jieba


@functools.cache
def _syllables() -> frozenset[str]:
    """Every toneless pinyin syllable of the common Chinese characters (from pypinyin's bundled table)."""
    from pypinyin import lazy_pinyin

    chars = [chr(c) for c in range(0x4E00, 0xA000)]
    return frozenset(s for s in lazy_pinyin(chars, errors="ignore") if s.isascii() and s.isalpha())


def _split_pinyin(word: str) -> list[str] | None:
    """``word`` split into pinyin syllables (longest first, backtracking), or None when it is not pinyin."""
    syllables = _syllables()

    @functools.cache
    def split(start: int) -> tuple[str, ...] | None:
        if start == len(word):
            return ()
        for end in range(min(len(word), start + 6), start, -1):
            if word[start:end] in syllables and (rest := split(end)) is not None:
                return (word[start:end], *rest)
        return None

    found = split(0)
    return list(found) if found is not None else None


@functools.lru_cache(maxsize=50_000)
def _pinyin(word: str) -> tuple[str, ...]:
    """The toneless pinyin of a word (pypinyin reads heteronyms by the word: 还没 hai, 还钱 huan), cached:
    words repeat across questions, and pypinyin takes about 0.2 ms a call."""
    from pypinyin import lazy_pinyin

    return tuple(lazy_pinyin(word, errors="ignore"))


def features(text: str) -> Counter[str]:
    """The feature counts of a text (see the module's docstring); a fresh Counter the caller may change."""
    return Counter(dict(_features(text)))


@functools.lru_cache(maxsize=MAX_CACHED_TEXTS)
def _features(text: str) -> tuple[tuple[str, int], ...]:
    """``features`` as a tuple, cached: rebuilding a shop's index after a write reads the same questions."""
    out: Counter[str] = Counter()
    syllables: list[str] = []  # the whole message's pinyin, in order, for bigrams across pieces
    for piece in _PIECES.findall(compact(_LINK.sub(" ", text))):
        if _CJK.match(piece):
            out.update("c:" + ch for ch in piece)
            out.update("b:" + piece[i : i + 2] for i in range(len(piece) - 1))
            words = _jieba().lcut(piece, HMM=False)
            out.update("w:" + w for w in words if len(w) > 1)
            for word in words:
                syllables.extend(_pinyin(word))
        elif piece.isdigit():
            if len(piece) < LONG_NUMBER:
                out["d:" + piece] += 1
        else:
            split = _split_pinyin(piece) if len(piece) > 1 or piece in "aeo" else None
            if split is not None:
                syllables.extend(split)
            else:  # initials (kd, yhq) or a Latin word (hi, xl)
                out["l:" + piece] += 1
                if 1 < len(piece) <= 6:
                    out.update("j:" + piece[i : i + 2] for i in range(len(piece) - 1))
    out.update("p:" + s for s in syllables)
    out.update("q:" + a + b for a, b in itertools.pairwise(syllables))
    initials = [s[0] for s in syllables]
    out.update("j:" + a + b for a, b in itertools.pairwise(initials))
    return tuple(out.items())


def _weight(token: str) -> float:
    return WEIGHTS[token[0]]


# --- the index -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexedEntry:
    pk: int
    intent: str
    product_id: int | None


@dataclass
class ShopIndex:
    """The BM25 weights of every question (rows) by feature (columns), which entry each row belongs to, and
    the intent classifier trained on the same questions."""

    entries: list[IndexedEntry]
    starts: np.ndarray  # first row of each entry (rows are grouped by entry, in entry order)
    vocabulary: dict[str, int]
    idf: np.ndarray  # BM25 idf per column
    matrix: Any  # scipy CSC: rows x columns, BM25 term weights times idf times kind weight
    self_scores: np.ndarray  # per row: the row's score against itself (what "fully matched" scores)
    entry_intents: np.ndarray  # per entry, the index of its intent in ``intent_codes``
    intent_codes: list[str]
    scoped: np.ndarray  # per entry: product id, 0 for none
    unseen_idf: float
    classifier: Classifier

    @property
    def size(self) -> int:
        return len(self.entries)


@dataclass(frozen=True)
class Classifier:
    """A linear intent classifier (one-vs-rest linear SVM, liblinear) over the TF-IDF of the features
    (sublinear tf, l2-normalized), applied by hand (a few array operations) rather than through
    scikit-learn's per-call checks. ``probabilities`` is the softmax of the decision values times
    ``SOFTMAX_SCALE``: a score for ranking and for the calibration's features, not itself calibrated."""

    idf: np.ndarray  # per column of the index's vocabulary
    coef: np.ndarray  # intents x columns
    intercept: np.ndarray  # per intent

    def probabilities(self, columns: Sequence[int], weights: Sequence[float]) -> np.ndarray:
        n = len(self.intercept)
        if n == 1:
            return np.ones(1)
        values = np.array(weights) * self.idf[list(columns)]
        norm = float(np.linalg.norm(values))
        z = self.intercept.copy()
        if norm:
            z += self.coef[:, list(columns)] @ (values / norm)
        z = (z - z.max()) * SOFTMAX_SCALE
        e = np.exp(z)
        return np.asarray(e / e.sum())


# Training rows per intent at most (a shop with thousands of entries of one intent trains on a fixed,
# evenly spread sample of them); the SVM's regularization measured best by cross-validation on the built-in
# examples. A linear SVM rather than a logistic regression: as accurate here (78 % against 76 % in 5-fold
# cross-validation of the first 260 built-in examples; 89 % on today's 519, against 76 % for the nearest
# question alone) and a hundred times faster to train (liblinear, no threads), which every
# knowledge-base write pays at the next match.
MAX_TRAINING_PER_INTENT = 400
CLASSIFIER_C = 0.5
SOFTMAX_SCALE = 4.0


Triplets = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _train(
    triplets: Triplets, n: int, labels: Sequence[int], vocabulary: dict[str, int], n_classes: int
) -> Classifier:
    """The classifier of the ``n`` docs whose features ``triplets`` holds, each labelled."""
    from sklearn.svm import LinearSVC

    rows, cols, counts, weights = triplets
    df = np.bincount(cols, minlength=len(vocabulary))
    idf = np.log((1 + n) / (1 + df)) + 1
    if n_classes < 2:
        return Classifier(idf=idf, coef=np.zeros((1, len(vocabulary))), intercept=np.zeros(1))
    by_class: dict[int, list[int]] = {}
    for row, label in enumerate(labels):
        by_class.setdefault(label, []).append(row)
    chosen: list[int] = []
    for members in by_class.values():
        step = max(1, math.ceil(len(members) / MAX_TRAINING_PER_INTENT))
        chosen.extend(members[::step])
    keep = np.zeros(n, dtype=bool)
    keep[chosen] = True
    mask = keep[rows]
    values = weights[mask] * (1 + np.log(counts[mask])) * idf[cols[mask]]
    norms = np.sqrt(np.bincount(rows[mask], weights=values**2, minlength=n))
    values = values / np.where(norms[rows[mask]] > 0, norms[rows[mask]], 1.0)
    x = sparse.csr_matrix((values, (rows[mask], cols[mask])), shape=(n, len(vocabulary)))[np.sort(chosen)]
    chosen = sorted(chosen)
    y = np.array([labels[r] for r in chosen])
    coef = np.zeros((n_classes, len(vocabulary)))
    intercept = np.full(n_classes, -30.0)  # an intent without training rows is never predicted
    if len(set(y.tolist())) < 2:
        intercept[int(y[0])] = 0.0
        return Classifier(idf=idf, coef=coef, intercept=intercept)
    model = LinearSVC(C=CLASSIFIER_C, random_state=0).fit(x, y)  # liblinear shuffles: fixed, repeatable
    if len(model.classes_) == 2:  # scikit-learn keeps one row for two classes
        coef[model.classes_[1]], intercept[model.classes_[1]] = model.coef_[0] / 2, model.intercept_[0] / 2
        coef[model.classes_[0]], intercept[model.classes_[0]] = -model.coef_[0] / 2, -model.intercept_[0] / 2
    else:
        for position, label in enumerate(model.classes_):
            coef[label], intercept[label] = model.coef_[position], model.intercept_[position]
    return Classifier(idf=idf, coef=coef, intercept=intercept)


def build_index(
    rows: Iterable[tuple[IndexedEntry, Sequence[str]]], *, negatives: Sequence[str] = ()
) -> ShopIndex:
    """The index of (entry, its questions) pairs. ``negatives``: messages no entry answers, the classifier's
    extra class "none" (they are not ranked)."""
    entries: list[IndexedEntry] = []
    starts: list[int] = []
    docs: list[Counter[str]] = []
    doc_entry: list[int] = []
    for entry, questions in rows:
        counted = [f for f in (features(q) for q in questions) if f]
        if not counted:
            continue
        starts.append(len(docs))
        docs.extend(counted)
        doc_entry.extend([len(entries)] * len(counted))
        entries.append(entry)
    negative_docs = [f for f in (features(t) for t in negatives) if f]
    vocabulary: dict[str, int] = {}
    for doc in (*docs, *negative_docs):  # columns only the negatives have score no question
        for token in doc:
            vocabulary.setdefault(token, len(vocabulary))
    triplets = _triplets([*docs, *negative_docs], vocabulary)
    idf, matrix = _bm25(triplets, len(docs), vocabulary)
    self_scores = np.asarray(matrix.sum(axis=1)).ravel()
    intent_codes = sorted({e.intent for e in entries})
    position = {code: i for i, code in enumerate(intent_codes)}
    entry_intents = np.array([position[e.intent] for e in entries], dtype=np.int64)
    labels = [int(entry_intents[e]) for e in doc_entry] + [len(intent_codes)] * len(negative_docs)
    classifier = _train(
        triplets, len(labels), labels, vocabulary, len(intent_codes) + (1 if negative_docs else 0)
    )
    n = len(docs)
    return ShopIndex(
        entries=entries,
        starts=np.array(starts, dtype=np.int64),
        vocabulary=vocabulary,
        idf=idf,
        matrix=matrix,
        self_scores=self_scores,
        entry_intents=entry_intents,
        intent_codes=intent_codes,
        scoped=np.array([e.product_id or 0 for e in entries], dtype=np.int64),
        unseen_idf=math.log(1 + (n + 0.5) / 0.5),
        classifier=classifier,
    )


def _triplets(docs: Sequence[Counter[str]], vocabulary: dict[str, int]) -> Triplets:
    """(row, column, count, kind weight) of every feature of every doc, as arrays."""
    rows: list[int] = []
    cols: list[int] = []
    counts: list[int] = []
    kinds: list[float] = []
    for row, doc in enumerate(docs):
        for token, count in doc.items():
            rows.append(row)
            cols.append(vocabulary[token])
            counts.append(count)
            kinds.append(WEIGHTS[token[0]])
    return (
        np.array(rows, dtype=np.int64),
        np.array(cols, dtype=np.int64),
        np.array(counts, dtype=np.float64),
        np.array(kinds, dtype=np.float64),
    )


def _bm25(triplets: Triplets, n: int, vocabulary: dict[str, int]) -> tuple[np.ndarray, Any]:
    """The idf per column and the rows x columns matrix of BM25 term weights (times idf and kind weight) of
    the first ``n`` docs of ``triplets`` (the questions; the negatives after them are left out)."""
    rows, cols, counts, kinds = triplets
    mask = rows < n
    rows, cols, counts, kinds = rows[mask], cols[mask], counts[mask], kinds[mask]
    df = np.bincount(cols, minlength=len(vocabulary))
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    lengths = np.bincount(rows, weights=kinds * counts, minlength=n)
    average = float(lengths.mean()) if n else 1.0
    norm = K1 * (1 - B + B * lengths / average)
    data = kinds * idf[cols] * counts * (K1 + 1) / (counts + norm[rows])
    return idf, sparse.csc_matrix((data, (rows, cols)), shape=(n, len(vocabulary)))


@dataclass(frozen=True)
class Scored:
    """The raw ranking of one message: entry positions best first with their ranking scores, the intent
    probabilities, and the features the calibration reads."""

    order: np.ndarray  # entry positions, best first
    scores: np.ndarray  # per entry position: BM25 times the probability of the entry's intent
    intents: np.ndarray  # per intent of ``intent_codes``: the classifier's probability
    features: np.ndarray  # calibration features of the top intent; zeros when nothing matched
    matched: bool


N_FEATURES = 10


def _nothing(index: ShopIndex) -> Scored:
    return Scored(
        np.zeros(0, dtype=np.int64),
        np.zeros(index.size),
        np.zeros(len(index.intent_codes)),
        np.zeros(N_FEATURES),
        False,
    )


def score(index: ShopIndex, text: str, *, product_id: int | None = None) -> Scored:
    """Rank the index's entries for ``text`` (see the module's docstring)."""
    counted = features(text)
    columns: list[int] = []
    weights: list[float] = []
    total = 0.0  # the message's feature weight, unseen features included
    for token, count in counted.items():
        column = index.vocabulary.get(token)
        weight = _weight(token) * (1 + math.log(count))
        if column is None:
            total += weight * index.unseen_idf
            continue
        columns.append(column)
        weights.append(weight)
        total += weight * float(index.idf[column])
    if not columns or index.size == 0:
        return _nothing(index)
    probabilities = index.classifier.probabilities(columns, weights)
    row_scores = np.asarray(index.matrix[:, columns] @ np.array(weights)).ravel()
    bm25 = np.maximum.reduceat(row_scores, index.starts)
    allowed = (index.scoped == 0) | (index.scoped == (product_id or -1))
    bm25 = np.where(allowed, bm25, 0.0)
    if product_id is not None:
        bm25 = np.where(index.scoped == product_id, bm25 * SCOPE_BOOST, bm25)
    ranking = bm25 * probabilities[index.entry_intents]
    top_k = min(index.size, 50)
    if top_k < index.size:
        candidates = np.argpartition(-ranking, top_k - 1)[:top_k]
    else:
        candidates = np.arange(index.size)
    order = candidates[np.argsort(-ranking[candidates], kind="stable")]
    order = order[ranking[order] > 0]
    if len(order) == 0:
        return _nothing(index)
    top = int(order[0])
    top_intent = int(index.entry_intents[top])
    p_sorted = np.sort(probabilities)[::-1]
    p_top = float(probabilities[top_intent])
    p_none = float(probabilities[-1]) if len(probabilities) > len(index.intent_codes) else 0.0
    p_second = float(p_sorted[1]) if len(p_sorted) > 1 else 0.0
    top_row = _best_row(row_scores, index, top)
    row_self = float(index.self_scores[top_row])
    query_share = min(1.0, float(bm25[top]) / total) if total else 0.0
    question_share = min(1.0, float(row_scores[top_row]) / row_self) if row_self else 0.0
    feats = np.array(
        [
            p_top,
            p_top - p_second,
            query_share,
            question_share,
            math.log1p(sum(counted.values())),
            p_top * query_share,
            p_top * question_share,
            query_share * question_share,
            float(p_top == p_sorted[0]),
            p_none,
        ]
    )
    return Scored(order, ranking, probabilities, feats, True)


def _best_row(row_scores: np.ndarray, index: ShopIndex, entry: int) -> int:
    start = int(index.starts[entry])
    end = int(index.starts[entry + 1]) if entry + 1 < index.size else len(row_scores)
    return start + int(np.argmax(row_scores[start:end]))


# --- calibration ------------------------------------------------------------------------------------------

FOLDS = 5


@dataclass(frozen=True)
class Calibration:
    coef: np.ndarray
    intercept: float

    def probability(self, feats: np.ndarray) -> float:
        z = float(feats @ self.coef) + self.intercept
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def _fold_index(examples: Sequence[tuple[str, str]], negatives: Sequence[str]) -> ShopIndex:
    by_intent: dict[str, list[str]] = {}
    for question, intent in examples:
        by_intent.setdefault(intent, []).append(question)
    return build_index(
        (
            (IndexedEntry(pk=i, intent=intent, product_id=None), questions)
            for i, (intent, questions) in enumerate(sorted(by_intent.items()))
        ),
        negatives=negatives,
    )


def calibration_samples(
    examples: Sequence[tuple[str, str]], out_of_scope: Sequence[str], *, folds: int = FOLDS
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features, right or not, predicted intent) of the top match of every example, each matched against an
    index built without its fold (cross-validation), of greeting-plus-question messages made of those, and of
    out-of-scope messages (never right)."""
    xs: list[np.ndarray] = []
    ys: list[int] = []
    predicted: list[str] = []
    greetings = [q for q, i in examples if i == "greeting"]
    for fold in range(folds):
        train = [e for n, e in enumerate(examples) if n % folds != fold]
        test = [e for n, e in enumerate(examples) if n % folds == fold]
        index = _fold_index(train, [t for n, t in enumerate(out_of_scope) if n % folds != fold])
        probes = list(test)
        probes += [
            (greetings[n % len(greetings)] + " " + q, i)
            for n, (q, i) in enumerate(test)
            if i != "greeting" and greetings and n % 2 == 0
        ]
        probes += [(t, "") for n, t in enumerate(out_of_scope) if n % folds == fold]
        for text, expected in probes:
            scored = score(index, text)
            got = index.entries[int(scored.order[0])].intent if scored.matched else ""
            xs.append(scored.features)
            ys.append(int(bool(expected) and got == expected))
            predicted.append(got)
    return np.array(xs), np.array(ys), predicted


@functools.cache
def calibration() -> Calibration:
    """The calibration fitted on the built-in examples (once per process, about a second)."""
    from sklearn.linear_model import LogisticRegression

    from robot.builtin import OUT_OF_SCOPE, examples

    xs, ys, _predicted = calibration_samples(examples(), OUT_OF_SCOPE)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(xs, ys)
    return Calibration(coef=model.coef_[0], intercept=float(model.intercept_[0]))


def warm_up() -> None:
    """Load what every process's first match would otherwise pay for (jieba's dictionary, the calibration:
    about 2 s), so that the first buyer after a start does not wait for it; the ASGI module calls it."""
    _jieba()
    calibration()
    features("预热一下 kd dao na le")


# --- the shop's index, cached -----------------------------------------------------------------------------


def _load(shop_id: int) -> ShopIndex:
    entries = (
        KnowledgeEntry.objects.filter(shop_id=shop_id, enabled=True)
        .order_by("pk")
        .values_list("pk", "intent", "product_id", "question", "similar_questions")
    )
    from robot.builtin import OUT_OF_SCOPE

    return build_index(
        (
            (IndexedEntry(pk, intent, product_id), [question, *similar])
            for pk, intent, product_id, question, similar in entries
        ),
        negatives=OUT_OF_SCOPE,
    )


_cache: StampedShopCache[ShopIndex] = StampedShopCache("robot_kb", _load, max_shops=MAX_SHOPS)


def changed(shop_id: int, *, removed: Iterable[int] = ()) -> int:
    """Call inside the transaction of every knowledge-base write, first (see ``backoffice.text``)."""
    return _cache.changed(shop_id, removed=removed)


def shop_index(shop_id: int) -> ShopIndex:
    return _cache.get(shop_id)[0]


def clear() -> None:
    """Forget every cached shop (tests and benchmarks)."""
    _cache.clear()


# --- the public interface --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One knowledge-base entry that matched."""

    entry: KnowledgeEntry
    score: float  # calibrated confidence 0..1


@dataclass(frozen=True)
class MatchResult:
    candidates: list[Candidate]  # best first, at most ``limit``
    intent: str  # the detected intent (``routing.intents.Intent``), "" when below the shop's threshold
    intent_confidence: float
    threshold: float = DEFAULT_THRESHOLD  # the shop's threshold this result was judged by
    best_intent: str = ""  # the top intent even when unsure (for hand-off reasons and statistics)

    def confident(self, threshold: float) -> Candidate | None:
        """The top candidate when its score reaches ``threshold``; None: do not guess."""
        if self.candidates and self.candidates[0].score >= threshold:
            return self.candidates[0]
        return None


def shop_threshold(shop_id: int) -> float:
    """The shop's answer threshold (``RobotSettings.threshold``; the default before the shop has settings)."""
    found = RobotSettings.objects.filter(shop_id=shop_id).values_list("threshold", flat=True).first()
    return DEFAULT_THRESHOLD if found is None else float(found)


def rank(
    *, shop_id: int, text: str, product_id: int | None = None, limit: int = 5
) -> tuple[list[tuple[int, float]], str, float]:
    """The matching without database rows: ([(entry id, confidence)] best first, the top entry's intent,
    its calibrated confidence). A lower candidate's confidence is the top one's scaled by its ranking score
    relative to the top's."""
    index = shop_index(shop_id)
    scored = score(index, text[:MAX_TEXT], product_id=product_id)
    if not scored.matched:
        return [], "", 0.0
    confidence = calibration().probability(scored.features)
    top_score = float(scored.scores[scored.order[0]])
    ranked = [
        (index.entries[int(p)].pk, confidence * float(scored.scores[p]) / top_score)
        for p in scored.order[:limit]
    ]
    return ranked, index.entries[int(scored.order[0])].intent, confidence


def match(*, shop_id: int, text: str, product_id: int | None = None, limit: int = 5) -> MatchResult:
    """The shop's best entries for a buyer's ``text`` (entries scoped to ``product_id`` preferred, those of
    other products left out) with calibrated confidences, and the detected intent ("" below the shop's
    threshold)."""
    threshold = shop_threshold(shop_id)
    ranked, best_intent, confidence = rank(shop_id=shop_id, text=text, product_id=product_id, limit=limit)
    rows = KnowledgeEntry.objects.in_bulk([pk for pk, _ in ranked])
    candidates = [Candidate(entry=rows[pk], score=round(s, 4)) for pk, s in ranked if pk in rows]
    return MatchResult(
        candidates=candidates,
        intent=best_intent if confidence >= threshold else "",
        intent_confidence=round(confidence, 4),
        threshold=threshold,
        best_intent=best_intent,
    )


def detect_intent(*, shop_id: int, text: str) -> tuple[str, float]:
    """(intent, confidence): the buyer's intent, "" when the confidence is below the shop's threshold."""
    _, best_intent, confidence = rank(shop_id=shop_id, text=text, limit=1)
    return (best_intent if confidence >= shop_threshold(shop_id) else ""), round(confidence, 4)
