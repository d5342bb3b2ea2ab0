"""Unit tests of the result comparison (run by benches/tiny.sh, so by make test)."""
import datetime
import os
import sys
import unittest
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench.compare import difference  # noqa: E402


class Difference(unittest.TestCase):
    def test_equal_in_any_order(self):
        a = [(1, "x", None), (2, "y", Decimal("1.50"))]
        self.assertIsNone(difference(a, list(reversed(a))))

    def test_float_tolerance(self):
        self.assertIsNone(difference([(1.0000000001, Decimal("123141078.2283"))],
                                     [(1.0, 123141078.22830001)]))
        self.assertIsNotNone(difference([(1.0,)], [(1.001,)]))

    def test_decimal_vs_float_and_ints(self):
        self.assertIsNone(difference([(Decimal("3"), 2)], [(3.0, 2)]))

    def test_nulls_and_types(self):
        self.assertIsNotNone(difference([(None,)], [(0,)]))
        self.assertIsNotNone(difference([("1",)], [(1,)]))
        self.assertIsNone(difference([(datetime.date(2026, 10, 1), None)], [(datetime.date(2026, 10, 1), None)]))

    def test_row_count_and_first_difference(self):
        d = difference([(1,), (2,), (3,)], [(1,), (3,)])
        self.assertIn("3 rows expected, 2 returned", d)
        self.assertIn("(2,)", d)
        d = difference([(1, "a"), (2, "b")], [(1, "a"), (2, "c")])
        self.assertIn("sorted row 1", d)

    def test_arrays_and_nan(self):
        self.assertIsNone(difference([([1.0, 2.0],)], [([1.0, 2.0000000001],)]))
        self.assertIsNotNone(difference([([1.0, 2.0],)], [([1.0],)]))
        self.assertIsNone(difference([(float("nan"),)], [(float("nan"),)]))

    def test_empty(self):
        self.assertIsNone(difference([], []))
        self.assertIsNotNone(difference([], [(1,)]))


if __name__ == "__main__":
    unittest.main()
