"""Does a quiz give its answer away? Shape checks a pack author can act on.

A quiz is worth taking only while guessing does not pay: if the right choice
is usually the longest one, or the only one without "always"/"never", a member
scores without knowing anything. These checks run over a whole pack (the
longest-choice share) and over each item (absolute words, length spread).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain import QuizItem

ABSOLUTE = re.compile(r"\b(always|never|only|none|every|guaranteed)\b", re.IGNORECASE)
MAX_LONGEST_SHARE = 0.30  # with four choices chance is 25%
MAX_LENGTH_RATIO = 2.0
MIN_ITEMS_FOR_SHARE = 5  # below this, one item swings the share too far to mean anything


@dataclass(frozen=True)
class BiasWarning:
    item_id: str | None  # None: about the pack as a whole
    message: str


def correct_is_longest(item: QuizItem) -> bool:
    lengths = [len(c) for c in item.choices]
    longest = max(lengths)
    return lengths[item.answer] == longest and lengths.count(longest) == 1


def longest_share(items: Sequence[QuizItem]) -> float:
    return sum(map(correct_is_longest, items)) / len(items) if items else 0.0


def item_warnings(item: QuizItem) -> list[BiasWarning]:
    found: list[BiasWarning] = []
    tells = [i for i, c in enumerate(item.choices) if i != item.answer and ABSOLUTE.search(c)]
    if tells:
        words = sorted({m.lower() for i in tells for m in ABSOLUTE.findall(item.choices[i])})
        found.append(BiasWarning(item.id, f"distractor uses an absolute word ({', '.join(words)}): "
                                          "members learn to rule such choices out unread"))
    lengths = [len(c) for c in item.choices]
    if min(lengths) and max(lengths) / min(lengths) > MAX_LENGTH_RATIO:
        found.append(BiasWarning(item.id, f"longest choice is {max(lengths) / min(lengths):.1f}x the shortest; "
                                          f"keep choices within {MAX_LENGTH_RATIO:.0f}x of each other"))
    return found


def pack_warnings(items: Sequence[QuizItem]) -> list[BiasWarning]:
    found = [w for item in items for w in item_warnings(item)]
    if len(items) >= MIN_ITEMS_FOR_SHARE and longest_share(items) > MAX_LONGEST_SHARE:
        found.append(BiasWarning(None, f"the right choice is the longest in {longest_share(items):.0%} of "
                                       f"{len(items)} items (keep it at or under {MAX_LONGEST_SHARE:.0%})"))
    return found
