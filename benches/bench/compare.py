"""Result equality between systems, numbers compared with a relative tolerance.

A query without a top-level ORDER BY has no defined row order: its rows are compared as
multisets (both sides sorted, then value by value). A query with one must also return its rows
in that order, but rows tied on the ORDER BY keys may come in any order (a parallel plan or
another access method legitimately returns them differently). So the comparison is:

1. the ORDER BY key columns are compared row by row, in order (the key sequence must match);
2. each run of consecutive rows that tie on those keys (in the reference result) is
   compared as a multiset, like an unordered result.

The key columns are found from the SQL text (`ordering`): the top-level ORDER BY clause
(ORDER BY inside parentheses -- subqueries, CTEs, window definitions, aggregate arguments,
WITHIN GROUP -- and inside string literals, quoted identifiers and comments is ignored), its
items split at top-level commas, ASC/DESC/USING/NULLS stripped, and each item mapped to an
output column: an ordinal (`ORDER BY 2`), an output column name (`ORDER BY revenue`, as
PostgreSQL itself resolves a bare name first), or an expression written as in the select
list (`ORDER BY count(*)` with `count(*) AS n`; `u.plan` with `u.plan` or bare `plan`
selected). The first item that maps to no output column (an expression over columns not
returned) ends the keys: only the items before it are checked in order, and rows tied on those
are compared as multisets (sound, only less strict; `Ordering.unresolved` says so and the
runner prints it).
"""
from __future__ import annotations

import datetime
import decimal
import math
import re
from dataclasses import dataclass, field

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


def difference(expected, got, keys: list[int] | None = None) -> str | None:
    """None if `got` equals `expected` (the reference), else a description of the first
    difference. keys None or []: as multisets (after sorting, with the float tolerance).
    keys (output column indexes of the ORDER BY, see `ordering`): the key columns in order,
    and each run of rows tied on them as a multiset."""
    if keys:
        return _ordered_difference(list(expected), list(got), keys)
    return _multiset_difference(expected, got)


def _multiset_difference(expected, got, where: str = "") -> str | None:
    e, g = normalise(expected), normalise(got)
    if len(e) != len(g):
        first = next((i for i, (x, y) in enumerate(zip(e, g)) if not _rows_equal(x, y)), min(len(e), len(g)))
        return (f"{where}{len(e)} rows expected, {len(g)} returned; first difference at sorted row {first}: "
                f"expected {_show(e, first)}, got {_show(g, first)}")
    for i, (x, y) in enumerate(zip(e, g)):
        if not _rows_equal(x, y):
            return f"{where}sorted row {i} of {len(e)}: expected {x!r}, got {y!r}"
    return None


def _ordered_difference(e: list, g: list, keys: list[int]) -> str | None:
    if len(e) != len(g):
        return _multiset_difference(e, g)
    width = max(keys) + 1
    for i, (x, y) in enumerate(zip(e, g)):
        if len(x) < width or len(y) < width:
            return f"row {i}: {len(x)} columns expected, {len(y)} returned"
        if not all(values_equal(x[k], y[k]) for k in keys):
            return (f"row {i} of {len(e)}: ORDER BY key columns {_cols(keys)} expected "
                    f"{_key(x, keys)!r}, got {_key(y, keys)!r} (wrong order or values; rows: "
                    f"expected {tuple(x)!r}, got {tuple(y)!r})")
    start = 0
    for i in range(1, len(e) + 1):
        if i == len(e) or not all(values_equal(e[i - 1][k], e[i][k]) for k in keys):
            if i - start == 1:
                if not _rows_equal(tuple(e[start]), tuple(g[start])):
                    return f"row {start} of {len(e)}: expected {tuple(e[start])!r}, got {tuple(g[start])!r}"
            else:
                where = (f"rows {start}..{i - 1} (tied on ORDER BY key columns {_cols(keys)} = "
                         f"{_key(e[start], keys)!r}, compared as a multiset): ")
                diff = _multiset_difference(e[start:i], g[start:i], where)
                if diff:
                    return diff
            start = i
    return None


def _key(row, keys):
    return tuple(row[k] for k in keys)


def _cols(keys):
    return "(" + ", ".join(str(k + 1) for k in keys) + ")"


def _rows_equal(x, y) -> bool:
    return len(x) == len(y) and all(values_equal(a, b) for a, b in zip(x, y))


def _show(rows, i):
    return repr(rows[i]) if i < len(rows) else "(no row)"


# ---- which output columns define the row order: the top-level ORDER BY -----------------

@dataclass(frozen=True)
class Token:
    kind: str   # word (unquoted, lower-cased), ident (quoted), string, number, param, op, punct
    value: str
    depth: int  # parentheses/brackets around it


_WORD = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DOLLAR = re.compile(r"\$([A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")
_PARAM = re.compile(r"\$\d+")
_OP_CHARS = set("+-*/<>=~!@#%^&|`?")


def tokens(sql: str) -> list[Token]:
    """PostgreSQL's lexical structure, enough to find clauses: comments dropped (nested /* */
    too), string literals ('..', E'..', $tag$..$tag$) and quoted identifiers as single tokens,
    each token with its parenthesis depth."""
    out: list[Token] = []
    i, n, depth = 0, len(sql), 0

    def string_at(j: int, backslash: bool) -> tuple[str, int]:
        # sql[j] == "'"; returns (value, index after the closing quote)
        buf, j = [], j + 1
        while j < n:
            c = sql[j]
            if backslash and c == "\\" and j + 1 < n:
                buf.append(sql[j + 1])
                j += 2
            elif c == "'":
                if j + 1 < n and sql[j + 1] == "'":
                    buf.append("'")
                    j += 2
                else:
                    return "".join(buf), j + 1
            else:
                buf.append(c)
                j += 1
        return "".join(buf), n  # unterminated: the rest

    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            level, i = 1, i + 2
            while i < n and level:
                if sql.startswith("/*", i):
                    level, i = level + 1, i + 2
                elif sql.startswith("*/", i):
                    level, i = level - 1, i + 2
                else:
                    i += 1
        elif c == "'":
            value, i = string_at(i, False)
            out.append(Token("string", value, depth))
        elif c == '"':
            buf, i = [], i + 1
            while i < n:
                if sql[i] == '"':
                    if i + 1 < n and sql[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(sql[i])
                i += 1
            out.append(Token("ident", "".join(buf), depth))
        elif c == "$":
            m = _DOLLAR.match(sql, i)
            if m:
                end = sql.find(m.group(0), m.end())
                end = n if end < 0 else end
                out.append(Token("string", sql[m.end():end], depth))
                i = min(n, end + len(m.group(0)))
            else:
                m = _PARAM.match(sql, i)
                text = m.group(0) if m else "$"
                out.append(Token("param", text, depth))
                i += len(text)
        elif (m := _NUMBER.match(sql, i)) is not None:
            out.append(Token("number", m.group(0), depth))
            i = m.end()
        elif (m := _WORD.match(sql, i)) is not None:
            word, i = m.group(0), m.end()
            if i < n and sql[i] == "'" and word.lower() in ("e", "b", "x", "n"):
                value, i = string_at(i, word.lower() == "e")
                out.append(Token("string", value, depth))
            elif word.lower() == "u" and sql.startswith("&'", i):
                value, i = string_at(i + 1, False)
                out.append(Token("string", value, depth))
            else:
                out.append(Token("word", word.lower(), depth))
        elif c in "([":
            out.append(Token("punct", c, depth))
            depth += 1
            i += 1
        elif c in ")]":
            depth = max(0, depth - 1)
            out.append(Token("punct", c, depth))
            i += 1
        elif sql.startswith("::", i):
            out.append(Token("op", "::", depth))
            i += 2
        elif c in ",;.:":
            out.append(Token("punct", c, depth))
            i += 1
        elif c in _OP_CHARS:
            j = i
            while j < n and sql[j] in _OP_CHARS and not sql.startswith("--", j) and not sql.startswith("/*", j):
                j += 1
            j = max(j, i + 1)
            out.append(Token("op", sql[i:j], depth))
            i = j
        else:
            out.append(Token("punct", c, depth))
            i += 1
    return out


def _top(toks: list[Token], i: int, *words: str) -> bool:
    return all(i + k < len(toks) and toks[i + k].depth == 0 and toks[i + k].kind == "word"
               and toks[i + k].value == w for k, w in enumerate(words))


# Keywords that end a top-level ORDER BY clause / a select list.
_AFTER_ORDER_BY = {"limit", "offset", "fetch", "for"}
_AFTER_SELECT_LIST = {"from", "into", "where", "group", "having", "window", "union", "intersect",
                      "except", "order", "limit", "offset", "fetch", "for"}


def _split_commas(toks: list[Token]) -> list[list[Token]]:
    items, cur = [], []
    for t in toks:
        if t.depth == 0 and t.kind == "punct" and t.value == ",":
            items.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur or items:
        items.append(cur)
    return items


def _order_by_items(toks: list[Token]) -> list[list[Token]] | None:
    """The items of the top-level ORDER BY (modifiers still attached), None if there is none."""
    start = next((i + 2 for i in range(len(toks)) if _top(toks, i, "order", "by")), None)
    if start is None:
        return None
    end = start
    while end < len(toks):
        t = toks[end]
        if t.depth == 0 and ((t.kind == "word" and t.value in _AFTER_ORDER_BY) or
                             (t.kind == "punct" and t.value == ";")):
            break
        end += 1
    return _split_commas(toks[start:end])


def _strip_modifiers(item: list[Token]) -> list[Token]:
    """expr [ASC | DESC | USING op] [NULLS {FIRST | LAST}] -> expr"""
    item = list(item)
    if (len(item) >= 2 and item[-2].kind == "word" and item[-2].value == "nulls"
            and item[-1].kind == "word" and item[-1].value in ("first", "last")):
        item = item[:-2]
    if item and item[-1].kind == "word" and item[-1].value in ("asc", "desc"):
        item = item[:-1]
    else:
        for k in range(len(item) - 1, 0, -1):
            if item[k].depth == 0 and item[k].kind == "word" and item[k].value == "using":
                item = item[:k]
                break
    return item


def _select_list(toks: list[Token]) -> list[list[Token]] | None:
    """The items of the first top-level SELECT's list (aliases attached), None if there is
    no top-level SELECT (VALUES, TABLE)."""
    i = next((k for k in range(len(toks)) if _top(toks, k, "select")), None)
    if i is None:
        return None
    i += 1
    if _top(toks, i, "all"):
        i += 1
    elif _top(toks, i, "distinct"):
        i += 1
        if _top(toks, i, "on") and i + 1 < len(toks) and toks[i + 1].value == "(":
            i += 2
            while i < len(toks) and toks[i].depth > 0:
                i += 1
            i += 1  # the closing parenthesis
    end = i
    while end < len(toks):
        t = toks[end]
        if t.depth == 0 and ((t.kind == "word" and t.value in _AFTER_SELECT_LIST) or
                             (t.kind == "punct" and t.value == ";")):
            break
        end += 1
    return _split_commas(toks[i:end])


def _shape(toks: list[Token]) -> tuple:
    """Tokens compared regardless of layout; "x" and x alike (an unquoted name is its
    lower-cased spelling, which the quoted one must match)."""
    return tuple((t.kind if t.kind != "ident" else "word", t.value) for t in toks)


def _expression_forms(item: list[Token]) -> list[tuple]:
    """What a select-list item computes, as token shapes: without `AS alias`; for a possible
    alias without AS (`count(*) n`) both with and without the last name."""
    if len(item) >= 3 and item[-2].kind == "word" and item[-2].value == "as" and item[-2].depth == 0:
        return [_shape(item[:-2])]
    forms = [_shape(item)]
    if len(item) >= 2 and item[-1].kind in ("word", "ident") and item[-1].depth == 0 \
            and not (item[-2].kind == "punct" and item[-2].value == "."):
        forms.append(_shape(item[:-1]))
    return forms


def _is_name(toks: list[Token]) -> bool:
    return len(toks) == 1 and toks[0].kind in ("word", "ident")


@dataclass
class Ordering:
    """Where a query's row order is defined. items: the top-level ORDER BY items as written
    (empty: no top-level ORDER BY, rows compared as multisets); keys: output column indexes
    of the leading items that map to output columns (checked in order); unresolved: the items
    from the first one that does not (only the rows tied on `keys` are compared as multisets
    instead of being checked against them)."""

    items: list[str] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)

    @property
    def ordered(self) -> bool:
        return bool(self.items)

    def describe(self, names: list[str] | None = None) -> str:
        if not self.items:
            return "no top-level ORDER BY: rows compared as a multiset"
        cols = ", ".join((names[k] if names and k < len(names) else f"#{k + 1}") for k in self.keys)
        text = (f"ORDER BY {', '.join(self.items)}: key columns ({cols}) compared in order, "
                "rows tied on them as multisets") if self.keys else \
            f"ORDER BY {', '.join(self.items)}: no item is an output column, rows compared as a multiset"
        if self.unresolved and self.keys:
            text += f" (not checked: {', '.join(self.unresolved)}, not an output column)"
        return text


def _text(toks: list[Token]) -> str:
    """Tokens back as SQL text, for messages."""
    out, prev = [], None
    for t in toks:
        v = {"string": "'" + t.value.replace("'", "''") + "'",
             "ident": '"' + t.value.replace('"', '""') + '"'}.get(t.kind, t.value)
        punct = t.kind in ("punct", "op")
        if out and ((punct and v in (")", "]", ",", ".", "::")) or
                    (punct and v in ("(", "[") and prev.kind in ("word", "ident")) or
                    (prev.kind in ("punct", "op") and prev.value in ("(", "[", ".", "::"))):
            out[-1] += v
        else:
            out.append(v)
        prev = t
    return " ".join(out)


def ordering(sql: str, names: list[str]) -> Ordering:
    """The Ordering of `sql`, whose result has the output columns `names` (cursor.description)."""
    toks = tokens(sql)
    items = _order_by_items(toks)
    if not items:
        return Ordering()
    exprs = [_strip_modifiers(it) for it in items]
    select = _select_list(toks)
    if select is not None and (len(select) != len(names) or any(
            any(t.kind == "op" and t.value == "*" and t.depth == 0 and
                (k == 0 or (it[k - 1].kind == "punct" and it[k - 1].value == ".")) for k, t in enumerate(it))
            for it in select)):
        select = None  # `*` in the list: its items are not the output columns one to one
    forms = [_expression_forms(it) for it in select] if select is not None else []
    out = Ordering(items=[_text(it) for it in items])
    for n, expr in enumerate(exprs):
        col = _resolve(expr, names, forms)
        if col is None:
            out.unresolved = out.items[n:]
            break
        if col not in out.keys:
            out.keys.append(col)
    return out


def _resolve(expr: list[Token], names: list[str], forms: list[list[tuple]]) -> int | None:
    if len(expr) == 1 and expr[0].kind == "number" and expr[0].value.isdigit():
        k = int(expr[0].value)
        return k - 1 if 1 <= k <= len(names) else None
    if _is_name(expr):
        hits = [k for k, name in enumerate(names) if name == expr[0].value]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            return None  # ambiguous (PostgreSQL refuses it)
    shape = _shape(expr)
    candidates = [shape]
    # u.plan is the input column that a bare `plan` in the select list names (unambiguous,
    # or the query would fail).
    if len(expr) == 3 and expr[1].kind == "punct" and expr[1].value == "." and \
            expr[0].kind in ("word", "ident") and expr[2].kind in ("word", "ident"):
        candidates.append(_shape(expr[2:]))
    for k, item_forms in enumerate(forms):
        if any(c in item_forms for c in candidates):
            return k
    return None
