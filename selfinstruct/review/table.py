"""Ratings as files: the CSV (one row per rating) and JSONL exports, and reading a CSV back for a summary.

CSV columns: ``review, item, rater``, one column per criterion (``yes``/``no``, or
1-5), ``note``, ``updated``, then the item's ``instruction``, ``input`` and
``output`` for a reader. Reading back, the columns ``item`` and ``rater`` are
required and every column not in ``TEXT_COLUMNS`` is a criterion; its scale is
read from its values (yes/no/true/false/y/n, or the whole numbers 1-5). A row
whose criteria are all blank is an unrated row of a rating sheet and is skipped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from selfinstruct.errors import InputError
from selfinstruct.review.stats import Rating
from selfinstruct.review.templates import RESERVED, Criterion

__all__ = ["ratings_csv", "ratings_jsonl", "read_ratings_csv", "TEXT_COLUMNS"]

TEXT_COLUMNS = RESERVED
_YES = {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False}


def _cell(value: bool | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def ratings_csv(review_id: str, criteria: Sequence[Criterion], ratings: Iterable[Mapping[str, Any]],
                items: Mapping[str, Mapping[str, str]]) -> str:
    """The CSV export: one row per rating, criteria in template order."""
    names = [c.name for c in criteria]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["review", "item", "rater", *names, "note", "updated", "instruction", "input", "output"])
    for r in ratings:
        item = items.get(r["item"], {})
        writer.writerow([review_id, r["item"], r["rater"], *(_cell(r["answers"].get(n)) for n in names),
                         r.get("note", ""), r.get("updated", ""), item.get("instruction", ""),
                         item.get("input", ""), item.get("output", "")])
    return buf.getvalue()


def ratings_jsonl(review_id: str, ratings: Iterable[Mapping[str, Any]]) -> bytes:
    import orjson

    return b"".join(orjson.dumps({"review": review_id, **r}) + b"\n" for r in ratings)


def _scale(name: str, cells: list[tuple[int, str]], path: str) -> str:
    kinds = set()
    for line, text in cells:
        if text.lower() in _YES:
            kinds.add("yes_no")
        elif text.isdigit() and 1 <= int(text) <= 5:
            kinds.add("1-5")
        else:
            raise InputError(f"column {name!r}: {text!r} is neither yes/no nor a whole number from 1 to 5",
                             path=path, line=line)
        if len(kinds) > 1:
            raise InputError(f"column {name!r}: {text!r} mixes the 1-5 scale with yes/no answers",
                             path=path, line=line)
    return kinds.pop() if kinds else "yes_no"


def read_ratings_csv(text: str, *, path: str) -> tuple[list[Criterion], list[Rating]]:
    """Criteria (from the header, scales from the values) and ratings of a CSV; InputError names path:line."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("empty file: expected a header row with item, rater and criterion columns", path=path)
    except csv.Error as exc:
        raise InputError(f"not CSV: {exc}", path=path, line=1) from exc
    header = [h.strip() for h in header]
    for required in ("item", "rater"):
        if required not in header:
            raise InputError(f"the header has no {required!r} column", path=path, line=1)
    if len(set(header)) != len(header):
        raise InputError("the header repeats a column name", path=path, line=1)
    names = [h for h in header if h not in TEXT_COLUMNS]
    if not names:
        raise InputError("the header has no criterion column (any column besides "
                         f"{', '.join(TEXT_COLUMNS)})", path=path, line=1)
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InputError(f"{len(row)} fields, the header has {len(header)}", path=path, line=line)
            rows.append((line, {h: cell.strip() for h, cell in zip(header, row)}))
    except csv.Error as exc:
        raise InputError(f"not CSV: {exc}", path=path, line=reader.line_num) from exc
    rated = []
    for line, row in rows:
        filled = [n for n in names if row[n]]
        if not filled:
            continue  # an unrated row of a rating sheet
        missing = [n for n in names if not row[n]]
        if missing:
            raise InputError(f"no answer for {missing[0]!r} (a rated row answers every criterion)", path=path,
                             line=line)
        for key in ("item", "rater"):
            if not row[key]:
                raise InputError(f"empty {key!r}", path=path, line=line)
        rated.append((line, row))
    criteria = [Criterion(name=n, question=n, scale=_scale(n, [(line, row[n]) for line, row in rated], path))
                for n in names]
    scales = {c.name: c.scale for c in criteria}
    ratings = [Rating(rater=row["rater"], item=row["item"], note=row.get("note", ""),
                      answers={n: _YES[row[n].lower()] if scales[n] == "yes_no" else int(row[n]) for n in names})
               for _, row in rated]
    return criteria, ratings
