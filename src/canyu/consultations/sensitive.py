"""Sensitive-word matching for pre-moderation (先审后发).

The word list is a file (one word a line, ``#`` comments); all words are matched in one pass
with an Aho–Corasick automaton, so the cost does not grow with the length of the list."""

from __future__ import annotations

from collections import deque
from functools import cache
from pathlib import Path

WORD_FILE = Path(__file__).resolve().parents[1] / "data" / "sensitive_words.txt"


class Matcher:
    """An Aho–Corasick automaton over a fixed set of words (case-insensitive)."""

    def __init__(self, words: list[str]) -> None:
        self._goto: list[dict[str, int]] = [{}]
        self._fail: list[int] = [0]
        self._out: list[list[int]] = [[]]
        self.words = sorted({w.strip().lower() for w in words if w.strip()})
        for index, word in enumerate(self.words):
            node = 0
            for ch in word:
                nxt = self._goto[node].get(ch)
                if nxt is None:
                    nxt = len(self._goto)
                    self._goto[node][ch] = nxt
                    self._goto.append({})
                    self._fail.append(0)
                    self._out.append([])
                node = nxt
            self._out[node].append(index)
        queue = deque(self._goto[0].values())
        while queue:
            node = queue.popleft()
            for ch, child in self._goto[node].items():
                queue.append(child)
                fail = self._fail[node]
                while fail and ch not in self._goto[fail]:
                    fail = self._fail[fail]
                target = self._goto[fail].get(ch, 0)
                self._fail[child] = target if target != child else 0
                self._out[child] = self._out[child] + self._out[self._fail[child]]

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Every occurrence as (start, end, word), overlapping ones included."""
        hits: list[tuple[int, int, str]] = []
        node = 0
        for pos, ch in enumerate(text.lower()):
            while node and ch not in self._goto[node]:
                node = self._fail[node]
            node = self._goto[node].get(ch, 0)
            for index in self._out[node]:
                word = self.words[index]
                hits.append((pos - len(word) + 1, pos + 1, word))
        return sorted(hits)


@cache
def matcher() -> Matcher:
    lines = WORD_FILE.read_text(encoding="utf-8").splitlines() if WORD_FILE.exists() else []
    return Matcher([line for line in lines if line.strip() and not line.startswith("#")])


def hits_in(text: str) -> list[str]:
    """The distinct sensitive words found in ``text``."""
    seen: list[str] = []
    for _, _, word in matcher().find(text):
        if word not in seen:
            seen.append(word)
    return seen


def highlight(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is_hit) runs, for marking hits in the moderator queue."""
    spans: list[list[int]] = []
    for start, end, _ in matcher().find(text):
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for start, end in spans:
        if start > pos:
            pieces.append((text[pos:start], False))
        pieces.append((text[start:end], True))
        pos = end
    if pos < len(text):
        pieces.append((text[pos:], False))
    return pieces
