"""Spreadsheet exports that cannot run formulas (CSV and XLSX)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.responses import Response

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralize(value: Any) -> Any:
    """A cell that a spreadsheet would read as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 with BOM, so that Excel opens Chinese text correctly."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([neutralize(h) for h in header])
    for row in rows:
        writer.writerow(["" if v is None else neutralize(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "Sheet1") -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title[:31] or "Sheet1")
    ws.append([neutralize(h) for h in header])
    for row in rows:
        # Every string is written as a string cell: openpyxl would otherwise read a leading "="
        # as a formula.
        ws.append([("" if v is None else neutralize(v)) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def download(
    fmt: str, filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Response:
    """A CSV or XLSX attachment response; ``filename`` without extension (ASCII)."""
    from urllib.parse import quote

    if fmt == "xlsx":
        body = to_xlsx(header, list(rows))
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        fmt = "csv"
        body = to_csv(header, rows)
        media = "text/csv; charset=utf-8"
    name = f"{filename}.{fmt}"
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )
