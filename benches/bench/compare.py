"""Result equality between systems: rows sorted, numbers compared with a relative tolerance."""
from __future__ import annotations

import datetime
import decimal
import math

REL_TOL = 1e-6
ABS_TOL = 1e-9


def _is_number(v) -> bool:
    return isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool)


def _round_sig(x: float, digits: int = 6) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))


def sort_key(v):
    """A total order over the values psycopg returns; numbers rounded so that values equal
    within the tolerance sort alike."""
    if v is None:
        return (0,)
    if isinstance(v, bool):
        return (1, v)
    if _is_number(v):
        f = float(v)
        return (2, 0.0 if math.isnan(f) else _round_sig(f), math.isnan(f))
    if isinstance(v, str):
        return (3, v)
    if isinstance(v, (datetime.date, datetime.datetime, datetime.time, datetime.timedelta)):
        return (4, str(v))
    if isinstance(v, (list, tuple)):
        return (5, tuple(sort_key(x) for x in v))
    return (6, str(v))


def values_equal(a, b) -> bool:
    if _is_number(a) and _is_number(b):
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return math.isclose(fa, fb, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    return a == b


def normalise(rows):
    return sorted((tuple(r) for r in rows), key=lambda r: tuple(sort_key(v) for v in r))


def difference(expected, got) -> str | None:
    """None if the two row sets are equal (after sorting, with the float tolerance), else a
    description of the first difference."""
    e, g = normalise(expected), normalise(got)
    if len(e) != len(g):
        first = next((i for i, (x, y) in enumerate(zip(e, g)) if not _rows_equal(x, y)), min(len(e), len(g)))
        return (f"{len(e)} rows expected, {len(g)} returned; first difference at sorted row {first}: "
                f"expected {_show(e, first)}, got {_show(g, first)}")
    for i, (x, y) in enumerate(zip(e, g)):
        if not _rows_equal(x, y):
            return f"sorted row {i} of {len(e)}: expected {x!r}, got {y!r}"
    return None


def _rows_equal(x, y) -> bool:
    return len(x) == len(y) and all(values_equal(a, b) for a, b in zip(x, y))


def _show(rows, i):
    return repr(rows[i]) if i < len(rows) else "(no row)"
