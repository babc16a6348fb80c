"""The result of an import: counts per kind of row and every rejected row with its reason."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

COUNT_KEYS = ("created", "updated", "unchanged", "skipped")


@dataclass(frozen=True)
class RowError:
    """One problem in one input row.

    ``row`` is the line number a spreadsheet shows (header = 1, first data row = 2); it is
    ``None`` for problems that belong to the file or a ZIP member rather than a row.
    """

    file: str
    row: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file} row {self.row}"
        column = f" [{self.field}]" if self.field else ""
        return f"{where}{column}: {self.message}"


@dataclass
class ImportReport:
    """Counts of what an import did (or, for a dry run, would do) and the rows it refused.

    ``kinds`` breaks the totals down by what was imported (``items``, ``customers``,
    ``events``, ``photos``); ``created``/``updated``/``unchanged``/``skipped`` are the sums.
    """

    dry_run: bool = False
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    # (row, item id) of catalog rows whose item has no photo after this import (nor before it).
    without_photo: list[tuple[int, str]] = field(default_factory=list)
    # The embedding job queued for the new items and photos (None: nothing to embed, or a dry run).
    embedding_job_id: int | None = None

    def add(self, kind: str, **counts: int) -> None:
        bucket = self.kinds.setdefault(kind, dict.fromkeys(COUNT_KEYS, 0))
        for key, value in counts.items():
            if key not in COUNT_KEYS:
                raise ValueError(f"unknown count {key!r}")
            bucket[key] += int(value)

    def error(self, file: str, row: int | None, field: str, message: str) -> None:
        self.errors.append(RowError(file=file, row=row, field=field, message=message))

    def _total(self, key: str) -> int:
        return sum(bucket[key] for bucket in self.kinds.values())

    @property
    def created(self) -> int:
        return self._total("created")

    @property
    def updated(self) -> int:
        return self._total("updated")

    @property
    def unchanged(self) -> int:
        return self._total("unchanged")

    @property
    def skipped(self) -> int:
        return self._total("skipped")

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self, max_errors: int = 20) -> str:
        verb = "would be " if self.dry_run else ""
        lines = []
        for kind, c in self.kinds.items():
            lines.append(
                f"{kind}: {c['created']} {verb}created, {c['updated']} {verb}updated, "
                f"{c['unchanged']} unchanged, {c['skipped']} skipped"
            )
        lines.append(
            f"total: {self.created} {verb}created, {self.updated} {verb}updated, "
            f"{self.unchanged} unchanged, {self.skipped} skipped"
            + (f" in {self.seconds:.1f}s" if self.seconds else "")
        )
        if self.dry_run:
            lines.append("dry run: nothing was written")
        if self.errors:
            lines.append(f"{len(self.errors)} error(s); nothing was written:")
            lines.extend(f"  {e}" for e in self.errors[:max_errors])
            if len(self.errors) > max_errors:
                lines.append(f"  ... and {len(self.errors) - max_errors} more")
        lines.extend(self.notes)
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "kinds": {k: dict(v) for k, v in self.kinds.items()},
            "errors": [asdict(e) for e in self.errors],
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
            "embedding_job_id": self.embedding_job_id,
            "without_photo": [{"row": row, "id": ext} for row, ext in self.without_photo],
        }
