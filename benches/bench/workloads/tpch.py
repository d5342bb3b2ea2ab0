"""TPC-H: data from tpchgen-cli (PyPI; a Rust port of dbgen), queries 1 3 5 6 10 12 14 19.

`lineitem` and `orders` are created per system; the six other tables are heap tables shared
by every system (schema tpch_shared), with their primary keys.

Sort keys (mergetree):
- lineitem ORDER BY (l_shipdate, l_orderkey): l_shipdate is the column the selected queries
  filter on most (Q1, Q3, Q6, Q14 take date ranges of it; Q7, Q15, Q20 of the full set too);
  sorting by it groups each range into few granules (what a primary-key or min/max skip can
  use) and makes the three correlated date columns compress well. l_orderkey second keeps one
  order's lines together within a day.
- orders ORDER BY (o_orderdate, o_orderkey): Q3, Q5 and Q10 filter orders on o_orderdate.
No partitioning: with no background merges yet, partitions would only multiply parts.

Heap gets the TPC-H primary keys (lineitem (l_orderkey, l_linenumber), orders (o_orderkey),
and the shared tables'), built after COPY; mergetree tables cannot have indexes.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..db import copy_from_file
from .base import Table, Workload, cached, mark_complete

TABLES = {
    "region": """r_regionkey integer NOT NULL, r_name char(25) NOT NULL, r_comment varchar(152)""",
    "nation": """n_nationkey integer NOT NULL, n_name char(25) NOT NULL, n_regionkey integer NOT NULL,
        n_comment varchar(152)""",
    "part": """p_partkey integer NOT NULL, p_name varchar(55) NOT NULL, p_mfgr char(25) NOT NULL,
        p_brand char(10) NOT NULL, p_type varchar(25) NOT NULL, p_size integer NOT NULL,
        p_container char(10) NOT NULL, p_retailprice numeric(15,2) NOT NULL,
        p_comment varchar(23) NOT NULL""",
    "supplier": """s_suppkey integer NOT NULL, s_name char(25) NOT NULL, s_address varchar(40) NOT NULL,
        s_nationkey integer NOT NULL, s_phone char(15) NOT NULL, s_acctbal numeric(15,2) NOT NULL,
        s_comment varchar(101) NOT NULL""",
    "partsupp": """ps_partkey integer NOT NULL, ps_suppkey integer NOT NULL, ps_availqty integer NOT NULL,
        ps_supplycost numeric(15,2) NOT NULL, ps_comment varchar(199) NOT NULL""",
    "customer": """c_custkey integer NOT NULL, c_name varchar(25) NOT NULL, c_address varchar(40) NOT NULL,
        c_nationkey integer NOT NULL, c_phone char(15) NOT NULL, c_acctbal numeric(15,2) NOT NULL,
        c_mktsegment char(10) NOT NULL, c_comment varchar(117) NOT NULL""",
    "orders": """o_orderkey bigint NOT NULL, o_custkey integer NOT NULL, o_orderstatus char(1) NOT NULL,
        o_totalprice numeric(15,2) NOT NULL, o_orderdate date NOT NULL,
        o_orderpriority char(15) NOT NULL, o_clerk char(15) NOT NULL,
        o_shippriority integer NOT NULL, o_comment varchar(79) NOT NULL""",
    "lineitem": """l_orderkey bigint NOT NULL, l_partkey integer NOT NULL, l_suppkey integer NOT NULL,
        l_linenumber integer NOT NULL, l_quantity numeric(15,2) NOT NULL,
        l_extendedprice numeric(15,2) NOT NULL, l_discount numeric(15,2) NOT NULL,
        l_tax numeric(15,2) NOT NULL, l_returnflag char(1) NOT NULL, l_linestatus char(1) NOT NULL,
        l_shipdate date NOT NULL, l_commitdate date NOT NULL, l_receiptdate date NOT NULL,
        l_shipinstruct char(25) NOT NULL, l_shipmode char(10) NOT NULL,
        l_comment varchar(44) NOT NULL""",
}

PRIMARY_KEYS = {
    "region": "r_regionkey", "nation": "n_nationkey", "part": "p_partkey",
    "supplier": "s_suppkey", "partsupp": "ps_partkey, ps_suppkey", "customer": "c_custkey",
    "orders": "o_orderkey", "lineitem": "l_orderkey, l_linenumber",
}

SORT_KEYS = {
    "lineitem": "l_shipdate, l_orderkey",
    "orders": "o_orderdate, o_orderkey",
}

SHARED = ["region", "nation", "part", "supplier", "partsupp", "customer"]
PER_SYSTEM = ["lineitem", "orders"]
COPY_OPTIONS = "FORMAT csv, HEADER true"


def tpchgen() -> str:
    """tpchgen-cli next to this Python (a venv) or on PATH."""
    here = Path(sys.executable).parent / "tpchgen-cli"
    if here.exists():
        return str(here)
    found = shutil.which("tpchgen-cli")
    if not found:
        raise SystemExit("tpchgen-cli not found: pip install tpchgen-cli (scripts/setup.sh does)")
    return found


def sf_text(sf: float) -> str:
    return f"{sf:g}"


class Tpch(Workload):
    name = "tpch"

    def __init__(self, args, ctx):
        super().__init__(args, ctx)
        self.sf = args.tpch_sf
        self.dir = Path(args.bench_data) / f"tpch-sf{sf_text(self.sf)}"

    def params(self):
        return {"scale_factor": self.sf, "generator": "tpchgen-cli", "data_dir": str(self.dir)}

    def title(self):
        return f"tpch: scale factor {sf_text(self.sf)}"

    def file(self, table):
        return str(self.dir / f"{table}.csv")

    def prepare(self):
        done = cached(self.dir)
        if done is not None:
            print(f"   tpch data: cached in {self.dir} (generated in {done['seconds']:.1f} s)")
            return {"cached": True, **done}
        self.dir.mkdir(parents=True, exist_ok=True)
        exe = tpchgen()
        version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
        t0 = time.perf_counter()
        subprocess.run([exe, "csv", "--scale-factor", sf_text(self.sf), "--output-dir", str(self.dir),
                        "--num-threads", str(self.ctx.jobs), "--quiet"], check=True)
        secs = time.perf_counter() - t0
        size = sum(os.path.getsize(self.file(t)) for t in TABLES)
        facts = {"scale_factor": self.sf, "generator": version, "seconds": round(secs, 3),
                 "csv_bytes": size}
        mark_complete(self.dir, facts)
        print(f"   tpch data: generated SF {sf_text(self.sf)} in {secs:.1f} s with {version} "
              f"({size / 1e6:,.0f} MB of CSV in {self.dir})")
        return {"cached": False, **facts}

    def tables(self):
        return [
            Table(name=t, columns=TABLES[t], files=[self.file(t)], copy_options=COPY_OPTIONS,
                  options={"mergetree": {"order_by": SORT_KEYS[t]}},
                  indexes=[f"ALTER TABLE {{table}} ADD PRIMARY KEY ({PRIMARY_KEYS[t]})"])
            for t in PER_SYSTEM
        ]

    def load_shared(self, conn, schema):
        out = {}
        for t in SHARED:
            t0 = time.perf_counter()
            conn.execute(f"CREATE TABLE {schema}.{t} ({TABLES[t]}) USING heap")
            copy_from_file(conn, f"{schema}.{t}", self.file(t), COPY_OPTIONS)
            conn.execute(f"ALTER TABLE {schema}.{t} ADD PRIMARY KEY ({PRIMARY_KEYS[t]})")
            conn.execute(f"VACUUM (ANALYZE) {schema}.{t}")
            rows = conn.execute(f"SELECT count(*) FROM {schema}.{t}").fetchone()[0]
            out[t] = {"rows": rows, "seconds": round(time.perf_counter() - t0, 3)}
        return out
