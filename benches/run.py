#!/usr/bin/env python3
"""pg_mergetree benchmark suite: heap and mergetree side by side. See benches/README.md,
or run `benches/run.py --help`. Needs psycopg 3 and tpchgen-cli (scripts/setup.sh installs
both into /var/tmp/pg_mergetree/bench-venv)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.stdout.reconfigure(line_buffering=True)

from bench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
