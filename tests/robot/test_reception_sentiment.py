"""The anger signal (robot.sentiment): angry messages are told from calm ones, both directions."""

from __future__ import annotations

import pytest

from robot import sentiment


@pytest.mark.parametrize(
    "text",
    [
        "你们这什么垃圾东西",
        "骗子店铺 再也不买了",
        "气死我了到底什么时候发货",
        "太慢了！！！",
        "无语 到底发不发",
        "我要打12315投诉你们",
        "TMD 等了一周",
        "你們這是黑店吧",  # traditional characters
        "😡😡 还不发货",
    ],
)
def test_angry_messages_are_angry(text: str) -> None:
    assert sentiment.is_angry(text), sentiment.anger(text)


@pytest.mark.parametrize(
    "text",
    [
        "什么时候发货",
        "好的谢谢亲",
        "我不生气 就问问什么时候到",
        "东西很好 一点都不垃圾",
        "usb线有送吗",  # "sb" inside a word
        "太好了!",
        "快递到哪了",
        "有点慢",
    ],
)
def test_calm_messages_are_not_angry(text: str) -> None:
    assert not sentiment.is_angry(text), sentiment.anger(text)


def test_a_mild_word_needs_a_second_signal() -> None:
    assert not sentiment.is_angry("无语")
    assert sentiment.is_angry("无语！！")
