"""An anger signal for buyer messages, from a lexicon (no model to download): the robot hands over at once
when a buyer is angry (reception), whatever they asked.

The score adds the weights of the angry words and patterns found in the normalized text (traditional folded
to simplified, full-width to half-width, case-folded: ``backoffice.text.normalize``), plus the emphasis of
runs of exclamation or question marks; a word right after a negation (不/没/别: "不生气") counts nothing.
``ANGRY_AT`` is the score from which a message is angry: one strong word (垃圾, 骗子, 气死) is enough, a
mild one (太慢, 无语) needs a second signal, such as another word or "！！！"."""

from __future__ import annotations

import re

from backoffice.text import normalize

ANGRY_AT = 1.0

STRONG = 1.0
MILD = 0.5
LEXICON: dict[str, float] = {
    # insults and accusations
    "垃圾": STRONG,
    "骗子": STRONG,
    "骗人": STRONG,
    "欺骗": STRONG,
    "忽悠": STRONG,
    "坑人": STRONG,
    "坑爹": STRONG,
    "黑店": STRONG,
    "奸商": STRONG,
    "恶心": STRONG,
    "气死": STRONG,
    "滚": STRONG,
    "妈的": STRONG,
    "他妈": STRONG,
    "傻逼": STRONG,
    "sb": STRONG,
    "tmd": STRONG,
    "nmd": STRONG,
    "cnm": STRONG,
    "shit": STRONG,
    "破玩意": STRONG,
    "什么破": STRONG,
    "忍无可忍": STRONG,
    "愤怒": STRONG,
    "火大": STRONG,
    "😡": STRONG,
    "🤬": STRONG,
    "💢": STRONG,
    # threats of escalation
    "12315": STRONG,
    "消协": STRONG,
    "工商局": STRONG,
    "曝光": STRONG,
    "举报": STRONG,
    # mild on their own
    "生气": MILD,
    "无语": MILD,
    "离谱": MILD,
    "太差": MILD,
    "差劲": MILD,
    "态度差": MILD,
    "太慢": MILD,
    "搞什么": MILD,
    "什么意思": MILD,
    "到底": MILD,
    "究竟": MILD,
    "凭什么": MILD,
    "赔偿": MILD,
    "失望": MILD,
    "烦死": STRONG,
    "受不了": MILD,
    "再也不": MILD,
    "差评": MILD,
}
NEGATIONS = ("不", "没", "别", "未")
_EMPHASIS = re.compile(r"[!?！？]{2,}")
_WORDS = sorted(LEXICON, key=len, reverse=True)
_LATIN = re.compile(r"[a-z]")


def anger(text: str) -> float:
    """The anger score of a buyer message (0 for a calm one)."""
    norm = normalize(text)
    score = 0.0
    taken = [False] * len(norm)
    for word in _WORDS:
        start = 0
        while (at := norm.find(word, start)) >= 0:
            start = at + len(word)
            if any(taken[at:start]):
                continue
            if _LATIN.match(word) and _is_inside_word(norm, at, start):
                continue  # "sb" inside "usb"
            for i in range(at, start):
                taken[i] = True
            if at > 0 and norm[at - 1] in NEGATIONS:
                continue  # 不生气, 没骗人
            score += LEXICON[word]
    score += MILD * len(_EMPHASIS.findall(norm))
    return score


def _is_inside_word(norm: str, start: int, end: int) -> bool:
    before = norm[start - 1] if start > 0 else ""
    after = norm[end] if end < len(norm) else ""
    return bool(_LATIN.match(before) or _LATIN.match(after))


def is_angry(text: str) -> bool:
    """An angry message: the robot hands it to a human at once."""
    return anger(text) >= ANGRY_AT
