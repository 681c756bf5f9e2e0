"""Transactions as CSV: the documented columns, reading rows with their line numbers, writing.
Pure (no I/O); the values are checked by the same schema as the JSON API.

    executed_at,coin_id,side,quantity,price,fee
    2024-01-05T10:00:00Z,bitcoin,buy,0.5,42000.10,2.5

`executed_at` ISO-8601 with a timezone; `side` buy or sell; `quantity`, `price`, `fee` plain
decimals (`fee` may be left empty: 0). Columns may come in any order; a header is required.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

COLUMNS: tuple[str, ...] = ("executed_at", "coin_id", "side", "quantity", "price", "fee")
OPTIONAL = frozenset({"fee"})
MAX_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    """The row's line in the file (the header is line 1)."""
    values: dict[str, str]


class CsvProblem(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


def read(text: str) -> list[Row]:
    """The data rows of a transactions CSV, blank lines skipped; `CsvProblem` for a missing or
    bad header, a malformed line or too many rows."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise CsvProblem(1, f"empty file; expected a header: {','.join(COLUMNS)}")
        names = [name.strip().lower() for name in header]
        unknown = [name for name in names if name not in COLUMNS]
        if unknown:
            raise CsvProblem(
                1, f"unknown column(s) {', '.join(unknown)}; known: {', '.join(COLUMNS)}"
            )
        if len(set(names)) != len(names):
            raise CsvProblem(1, "a column appears twice")
        missing = [c for c in COLUMNS if c not in names and c not in OPTIONAL]
        if missing:
            raise CsvProblem(1, f"missing column(s) {', '.join(missing)}")
        rows: list[Row] = []
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue
            if len(fields) != len(names):
                raise CsvProblem(
                    reader.line_num, f"expected {len(names)} fields, found {len(fields)}"
                )
            if len(rows) == MAX_ROWS:
                raise CsvProblem(reader.line_num, f"more than {MAX_ROWS} rows; split the file")
            values = {name: field.strip() for name, field in zip(names, fields, strict=True)}
            if not values.get("fee"):
                values["fee"] = "0"
            rows.append(Row(reader.line_num, values))
    except csv.Error as exc:
        raise CsvProblem(reader.line_num, f"malformed CSV: {exc}") from exc
    return rows


def write(rows: Iterable[Mapping[str, str]]) -> str:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: row[name] for name in COLUMNS})
    return out.getvalue()
