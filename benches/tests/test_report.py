"""The report's load rows: sizes and probe queries before merges beside the usual ones."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench import report  # noqa: E402


class LoadRows(unittest.TestCase):
    def test_before_merges_rows(self):
        w = {"title": "events", "systems": ["heap", "mergetree"], "queries": {},
             "load": {"heap": {"events": {"load_seconds": 2.0, "total_bytes": 8_000_000, "total_bytes_at_load": 8_000_000,
                                          "probes_at_load_ms": {"q03_user_timeline": 20.0}}},
                      "mergetree": {"events": {"load_seconds": 4.0, "total_bytes": 1_000_000, "total_bytes_at_load": 2_000_000,
                                               "probes_at_load_ms": {"q03_user_timeline": 5.0},
                                               "settle_seconds": 30.0, "parts_at_load": 40, "parts": 3}}}}
        md = report.workload_md(w)
        self.assertIn("| merges after the load: settle (s), parts at load -> after | - | 30.0, 40 -> 3 |", md)
        size = next(line for line in md.splitlines() if line.startswith("| size at load, before merges"))
        self.assertIn("4.00x", size)
        probe = next(line for line in md.splitlines() if line.startswith("| q03_user_timeline at load, before merges (ms)"))
        self.assertIn("4.00x", probe)


if __name__ == "__main__":
    unittest.main()
