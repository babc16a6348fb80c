"""What differs between two ranked lists shown side by side (A/B versions, a rule's effect)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RankMark:
    """How an item in one list compares with the other list."""

    kind: str  # "only" (not in the other list), "up", "down" or "same"
    delta: int = 0  # places moved (for up/down)

    @property
    def text(self) -> str:
        if self.kind == "only":
            return "only here"
        if self.kind == "same":
            return ""
        return f"{'↑' if self.kind == 'up' else '↓'} {self.delta}"


def rank_marks(ids: list[str], other: list[str]) -> dict[str, RankMark]:
    """For each id of ``ids``: absent from ``other``, or ranked higher/lower/the same there."""
    where = {item_id: i for i, item_id in enumerate(other)}
    marks: dict[str, RankMark] = {}
    for i, item_id in enumerate(ids):
        j = where.get(item_id)
        if j is None:
            marks[item_id] = RankMark("only")
        elif j > i:
            marks[item_id] = RankMark("up", j - i)
        elif j < i:
            marks[item_id] = RankMark("down", i - j)
        else:
            marks[item_id] = RankMark("same")
    return marks
