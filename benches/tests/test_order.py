"""Unit tests of the ordered result comparison and of finding a query's top-level ORDER BY
(run by benches/tiny.sh, so by make test)."""
import os
import sys
import unittest
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench.compare import difference, ordering, tokens  # noqa: E402


class OrderedDifference(unittest.TestCase):
    def test_wrong_order_fails(self):
        e = [(1, "a"), (2, "b"), (3, "c")]
        d = difference(e, list(reversed(e)), keys=[0])
        self.assertIsNotNone(d)
        self.assertIn("row 0 of 3: ORDER BY key columns (1) expected (1,), got (3,)", d)
        # The same rows as a multiset: equal.
        self.assertIsNone(difference(e, list(reversed(e))))

    def test_descending_keys_in_reference_order(self):
        e = [(3, "c"), (2, "b"), (1, "a")]
        self.assertIsNone(difference(e, list(e), keys=[0]))
        self.assertIsNotNone(difference(e, sorted(e), keys=[0]))

    def test_ties_may_come_in_any_order(self):
        e = [(1, "a", 10), (1, "b", 20), (1, "c", 30), (2, "d", 40)]
        g = [(1, "c", 30), (1, "a", 10), (1, "b", 20), (2, "d", 40)]
        self.assertIsNone(difference(e, g, keys=[0]))
        # ...but not when the tie is broken by a later key column.
        self.assertIsNotNone(difference(e, g, keys=[0, 1]))

    def test_tied_group_compared_as_multiset(self):
        e = [(1, "a"), (1, "b"), (2, "c")]
        g = [(1, "a"), (1, "c"), (2, "b")]  # same key sequence, rows moved between groups
        d = difference(e, g, keys=[0])
        self.assertIsNotNone(d)
        self.assertIn("rows 0..1 (tied on ORDER BY key columns (1)", d)
        # Single-row groups compare the whole row.
        d = difference([(1, "a"), (2, "b")], [(1, "a"), (2, "x")], keys=[0])
        self.assertIn("row 1 of 2", d)

    def test_duplicate_rows_counted(self):
        e = [(1, "a"), (1, "a"), (1, "b")]
        self.assertIsNotNone(difference(e, [(1, "a"), (1, "b"), (1, "b")], keys=[0]))
        self.assertIsNone(difference(e, [(1, "b"), (1, "a"), (1, "a")], keys=[0]))

    def test_multi_key_and_non_leading_key_columns(self):
        # ORDER BY 3 DESC, 1: keys are output columns 2 then 0.
        e = [("x", 0, 9), ("y", 0, 9), ("a", 1, 5)]
        self.assertIsNone(difference(e, [("x", 0, 9), ("y", 0, 9), ("a", 1, 5)], keys=[2, 0]))
        self.assertIsNotNone(difference(e, [("y", 0, 9), ("x", 0, 9), ("a", 1, 5)], keys=[2, 0]))
        self.assertIsNone(difference(e, [("y", 0, 9), ("x", 0, 9), ("a", 1, 5)], keys=[2]))

    def test_float_tolerance_on_keys_and_ties(self):
        # Two sums equal within the tolerance may come out in either order.
        e = [(1.0000000001, "a"), (1.0, "b"), (0.5, "c")]
        g = [(1.0, "b"), (1.0000000001, "a"), (0.5, "c")]
        self.assertIsNone(difference(e, g, keys=[0]))
        self.assertIsNone(difference([(Decimal("2.50"), 1)], [(2.5000000001, 1)], keys=[0]))
        self.assertIsNotNone(difference([(1.0, "a"), (2.0, "b")], [(2.0, "b"), (1.0, "a")], keys=[0]))

    def test_nulls_in_keys(self):
        e = [(None, "a"), (None, "b"), (1, "c")]
        self.assertIsNone(difference(e, [(None, "b"), (None, "a"), (1, "c")], keys=[0]))
        self.assertIsNotNone(difference(e, [(1, "c"), (None, "a"), (None, "b")], keys=[0]))

    def test_row_counts(self):
        d = difference([(1,), (2,)], [(1,)], keys=[0])
        self.assertIn("2 rows expected, 1 returned", d)
        self.assertIsNone(difference([], [], keys=[0]))

    def test_no_keys_is_multiset(self):
        e = [(1,), (1,), (2,)]
        self.assertIsNone(difference(e, [(2,), (1,), (1,)], keys=[]))
        self.assertIsNone(difference(e, [(2,), (1,), (1,)], keys=None))
        self.assertIsNotNone(difference(e, [(1,), (2,), (2,)]))


def keys(sql, names):
    return ordering(sql, names).keys


class OrderByDetection(unittest.TestCase):
    def test_no_order_by(self):
        o = ordering("SELECT count(*) FROM t", ["count"])
        self.assertFalse(o.ordered)
        self.assertEqual(o.keys, [])

    def test_top_level(self):
        self.assertEqual(keys("SELECT a, b FROM t ORDER BY b", ["a", "b"]), [1])
        self.assertEqual(keys("select a, b from t order\n  by 2 desc, 1 limit 5;", ["a", "b"]), [1, 0])

    def test_nested_order_by_ignored(self):
        for sql in [
            "SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 10) s",
            "WITH c AS (SELECT a FROM t ORDER BY a) SELECT a FROM c",
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY a) AS a FROM t",
            "SELECT string_agg(b, ',' ORDER BY b) AS a FROM t GROUP BY c",
            "SELECT row_number() OVER (PARTITION BY c ORDER BY b) AS a FROM t",
            "SELECT rank() OVER w AS a FROM t WINDOW w AS (ORDER BY b)",
            "SELECT a FROM t WHERE b IN (SELECT b FROM u ORDER BY b LIMIT 3)",
            "SELECT (array_agg(b ORDER BY b))[1] AS a FROM t",
        ]:
            with self.subTest(sql=sql):
                self.assertFalse(ordering(sql, ["a"]).ordered)

    def test_nested_and_top_level(self):
        sql = ("SELECT a, percentile_cont(0.5) WITHIN GROUP (ORDER BY d) AS p, "
               "(SELECT max(x) FROM u ORDER BY 1 LIMIT 1) AS m FROM t GROUP BY a ORDER BY a DESC")
        self.assertEqual(keys(sql, ["a", "p", "m"]), [0])
        sql = "WITH c AS (SELECT a, b FROM t ORDER BY b) SELECT a, b FROM c ORDER BY 2, a"
        self.assertEqual(keys(sql, ["a", "b"]), [1, 0])

    def test_strings_comments_and_quoted_names_ignored(self):
        for sql in [
            "SELECT 'x ORDER BY 1' AS a FROM t",
            "SELECT E'it\\'s ORDER BY 1' AS a FROM t",
            "SELECT 'it''s ORDER BY 1' AS a FROM t",
            "SELECT $$ ORDER BY 1 $$ AS a FROM t",
            "SELECT $q$ ORDER BY 1 $q$ AS a FROM t",
            "SELECT a FROM t -- ORDER BY a",
            "SELECT a FROM t /* ORDER BY a /* nested */ ORDER BY a */",
            'SELECT "order by" AS a FROM t',
        ]:
            with self.subTest(sql=sql):
                self.assertFalse(ordering(sql, ["a"]).ordered)
        self.assertEqual(keys("SELECT a FROM t /* c */ ORDER /* c */ BY -- c\n a", ["a"]), [0])

    def test_ordinals_names_aliases(self):
        names = ["day", "events", "avg_ms"]
        sql = ('SELECT "timestamp"::date AS day, count(*) AS events, avg(x) avg_ms FROM t '
               "GROUP BY 1 ORDER BY events DESC NULLS LAST, avg_ms, 1")
        self.assertEqual(keys(sql, names), [1, 2, 0])
        self.assertEqual(keys('SELECT "timestamp", e FROM t ORDER BY "timestamp" DESC', ["timestamp", "e"]), [0])
        self.assertEqual(keys('SELECT "Mixed" FROM t ORDER BY "Mixed"', ["Mixed"]), [0])
        self.assertEqual(keys("SELECT a, b FROM t ORDER BY b USING >, a", ["a", "b"]), [1, 0])

    def test_expressions_of_the_select_list(self):
        sql = "SELECT event, count(*) AS events FROM t GROUP BY event ORDER BY count( * ) DESC, event"
        self.assertEqual(keys(sql, ["event", "events"]), [1, 0])
        sql = "SELECT event, count(*) n FROM t GROUP BY event ORDER BY count(*) DESC"
        self.assertEqual(keys(sql, ["event", "n"]), [1])
        sql = "SELECT u.plan, count(*) FROM e JOIN users u ON u.id = e.u GROUP BY u.plan ORDER BY u.plan"
        self.assertEqual(keys(sql, ["plan", "count"]), [0])
        sql = "SELECT plan, count(*) FROM e JOIN users u ON u.id = e.u GROUP BY plan ORDER BY u.plan"
        self.assertEqual(keys(sql, ["plan", "count"]), [0])
        sql = "SELECT DISTINCT ON (a) a, b + 1 FROM t ORDER BY a, b + 1"
        self.assertEqual(keys(sql, ["a", "?column?"]), [0, 1])

    def test_unresolved_item_ends_the_keys(self):
        o = ordering("SELECT a, b, c FROM t ORDER BY a, lower(b), c", ["a", "b", "c"])
        self.assertEqual(o.keys, [0])
        self.assertEqual(o.unresolved, ["lower(b)", "c"])
        self.assertIn("not checked", o.describe(["a", "b", "c"]))
        o = ordering("SELECT a FROM t ORDER BY b", ["a"])  # not an output column
        self.assertTrue(o.ordered)
        self.assertEqual(o.keys, [])
        self.assertEqual(ordering("SELECT a FROM t ORDER BY 2", ["a"]).keys, [])  # out of range

    def test_star(self):
        # `*`: the select list is not one item per column; names and ordinals still work.
        self.assertEqual(keys("SELECT * FROM t ORDER BY b, 1", ["a", "b"]), [1, 0])
        self.assertEqual(keys("SELECT t.*, x + 1 FROM t ORDER BY x + 1", ["a", "b", "?column?"]), [])
        # `*` as multiplication is not a star.
        self.assertEqual(keys("SELECT a * 2 AS d, a FROM t ORDER BY a * 2", ["d", "a"]), [0])

    def test_set_operations(self):
        sql = "(SELECT a FROM t ORDER BY a LIMIT 1) UNION ALL SELECT a FROM u"
        self.assertFalse(ordering(sql, ["a"]).ordered)
        sql = "SELECT a FROM t UNION SELECT a FROM u ORDER BY a DESC OFFSET 1"
        self.assertEqual(keys(sql, ["a"]), [0])

    def test_tokens(self):
        vals = [(t.kind, t.value, t.depth) for t in tokens("f(x) -- c\n::int /* c */ 'a''b'")]
        self.assertEqual(vals, [("word", "f", 0), ("punct", "(", 0), ("word", "x", 1), ("punct", ")", 0),
                                ("op", "::", 0), ("word", "int", 0), ("string", "a'b", 0)])

    def test_query_files(self):
        # Every ORDER BY of the suite's own queries maps to output columns (their names as
        # the select lists give them): none is checked less strictly than it is written.
        qdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "queries")
        files = {
            "events/q02_top_events.sql": (["event", "events"], [1, 0]),
            "events/q03_user_timeline.sql": (["timestamp", "event", "duration_ms", "error", "properties"], [0, 1, 4]),
            "events/q06_events_by_plan.sql": (["plan", "events", "users", "avg_ms"], [0]),
            "events/q07_property_breakdown.sql": (["browser", "os", "page_views", "avg_ms"], [2, 0, 1]),
            "events/q04_duration_percentiles.sql": (["event", "timed", "p50_ms", "p90_ms", "p99_ms"], [0]),
            "tpch/q03.sql": (["l_orderkey", "revenue", "o_orderdate", "o_shippriority"], [1, 2, 0]),
            "tpch/q06.sql": (["revenue"], []),
        }
        for path, (names, want) in files.items():
            with self.subTest(path=path):
                with open(os.path.join(qdir, path)) as f:
                    o = ordering(f.read(), names)
                self.assertEqual(o.keys, want)
                self.assertEqual(o.unresolved, [])


if __name__ == "__main__":
    unittest.main()
