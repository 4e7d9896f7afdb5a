"""Grouping similar texts (comments, board questions) into FAQ candidates.

Character bigrams and trigrams work for Chinese without a word segmenter and need nothing
online. Two texts are similar when the cosine of their n-gram counts reaches a threshold."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

_NOISE = re.compile(r"[\s\u3000，。、；：？！“”‘’（）《》【】,.;:?!\"'()\[\]<>-]+")


def ngrams(text: str) -> Counter[str]:
    clean = _NOISE.sub("", text.lower())
    grams: Counter[str] = Counter()
    for n in (2, 3):
        for i in range(len(clean) - n + 1):
            grams[clean[i : i + n]] += 1
    if not grams and clean:
        grams[clean] = 1
    return grams


def cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    return dot / (
        math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    )


@dataclass
class Group:
    texts: list[str]
    keys: list[str]


def group_similar(items: list[tuple[str, str]], threshold: float = 0.3) -> list[Group]:
    """Items are (key, text). Greedy single-link grouping; groups of two or more, largest first."""
    vectors = [(key, text, ngrams(text)) for key, text in items]
    groups: list[list[int]] = []
    for i, (_, _, vec) in enumerate(vectors):
        placed = False
        for group in groups:
            if any(cosine(vec, vectors[j][2]) >= threshold for j in group):
                group.append(i)
                placed = True
                break
        if not placed:
            groups.append([i])
    result = [
        Group([vectors[j][1] for j in g], [vectors[j][0] for j in g]) for g in groups if len(g) > 1
    ]
    return sorted(result, key=lambda g: -len(g.texts))
