"""Reading an import file (CSV or parquet) into canonical-column rows; header problems go to
the import report. Shared by the catalog and the events imports."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .report import ImportReport

MAX_ERRORS = 1000  # a file with every row wrong should not produce a megabyte report


class TooManyErrors(Exception):
    pass


@dataclass
class Table:
    name: str
    header: list[str]
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (spreadsheet row, canonical -> cell)
    header_for: dict[str, str] = field(default_factory=dict)  # canonical -> the file's column name, for errors


def display_name(source) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).name
    return Path(getattr(source, "name", "") or "upload").name


def read_source(source) -> bytes:
    if isinstance(source, (str, Path)):
        return Path(source).read_bytes()
    if hasattr(source, "seek"):
        source.seek(0)
    data = source.read()
    return data.encode() if isinstance(data, str) else data


def read_table(source, *, columns: Iterable[str], required: Iterable[str], mapping: dict[str, str] | None,
                report: ImportReport, fmt: str | None = None) -> Table | None:
    """Read CSV/parquet into canonical-column dicts; header problems go to the report (row 1)."""
    name = display_name(source)
    columns = list(columns)
    kind = fmt or ("parquet" if name.lower().endswith((".parquet", ".pq")) else "csv")
    try:
        data = read_source(source)
    except OSError as exc:
        report.error(name, None, "", f"cannot read file: {exc}")
        return None
    if kind == "parquet":
        header, raw_rows = parquet_rows(data, name, report)
    else:
        header, raw_rows = csv_rows(data, name, report)
    if header is None:
        return None

    # mapping: canonical column -> the file's column name
    file_to_canonical: dict[str, str] = {}
    lowered = {c.lower(): c for c in columns}
    mapped = {v.strip().lower(): k for k, v in (mapping or {}).items()}
    for k in mapping or {}:
        if k not in columns:
            report.error(name, 1, k, f"mapping names unknown target column '{k}'; known: {', '.join(columns)}")
    seen: dict[str, str] = {}
    for col in header:
        key = col.strip().lower()
        canonical = mapped.get(key) or lowered.get(key)
        if canonical is None:
            report.error(name, 1, col, f"unknown column '{col}'; known columns: {', '.join(columns)}")
            continue
        if canonical in seen:
            report.error(name, 1, col, f"column '{col}' and '{seen[canonical]}' both map to '{canonical}'")
            continue
        seen[canonical] = col
        file_to_canonical[col] = canonical
    for req in required:
        if req not in seen:
            report.error(name, 1, req, f"missing required column '{req}'")
    if not report.ok:
        return None
    table = Table(name=name, header=header)
    for row_number, cells in raw_rows:
        if len(cells) > len(header):
            report.error(name, row_number, "", f"row has {len(cells)} cells but the header has {len(header)}")
            continue
        if not any(c.strip() for c in cells):
            continue  # a blank line, as spreadsheets leave at the end
        values = {file_to_canonical[h]: (cells[i] if i < len(cells) else "") for i, h in enumerate(header)
                  if h in file_to_canonical}
        table.rows.append((row_number, values))
    # Errors name the user's column, not ours.
    table.header_for = {v: k for k, v in file_to_canonical.items()}
    return table


def csv_rows(data: bytes, name: str, report: ImportReport):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        report.error(name, line, "", f"file is not UTF-8 (byte 0x{data[exc.start]:02x} at line {line}); "
                                     "save it as 'CSV UTF-8'")
        return None, []
    if "\x00" in text:
        report.error(name, None, "", "file contains NUL bytes; it is not a CSV text file")
        return None, []
    try:
        sample = text[:4096]
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader, None)
        if not header:
            report.error(name, 1, "", "file is empty (no header row)")
            return None, []
        # Spreadsheet row numbers count records, so a quoted multi-line cell is still one row.
        rows = [(n, row) for n, row in enumerate(reader, start=2)]
    except csv.Error as exc:
        report.error(name, reader.line_num, "", f"malformed CSV: {exc}")
        return None, []
    return [h.strip() for h in header], rows


def parquet_rows(data: bytes, name: str, report: ImportReport):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        report.error(name, None, "", f"not a readable parquet file ({exc})")
        return None, []
    header = [str(c) for c in table.column_names]
    cols = [table.column(c).to_pylist() for c in table.column_names]

    def cell(v) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and v != v:
            return ""
        if hasattr(v, "isoformat"):
            return v.isoformat()
        return str(v)

    rows = [(i + 2, [cell(c[i]) for c in cols]) for i in range(table.num_rows)]
    return header, rows
