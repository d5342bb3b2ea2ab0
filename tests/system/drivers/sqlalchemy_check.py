"""SQLAlchemy 2 (over psycopg 3) against a mergetree table and a heap table (see common.py):
tables reflected (columns and types must match the heap table's), Core INSERTs (executemany
with RETURNING, a multi-row VALUES), ORM inserts (add_all, and single objects flushed one by
one), Core and ORM selects with bound parameters (psycopg prepares every statement:
prepare_threshold=0), Core and ORM aggregates. tests/system/py/sqlalchemy_roundtrip.py
checks the reflected table's options.

usage: sqlalchemy_check.py PORT PREFIX AM_CLAUSE [ROWS]
"""
import sys

import sqlalchemy as sa
from sqlalchemy import bindparam as bp
from sqlalchemy import func
from sqlalchemy.orm import DeclarativeBase, Session

from common import (AGGREGATES, AUTO_EXECUTIONS, BATCHED, COLUMNS, EXECUTIONS, PLAN_COUNTS, SINGLE, STATEMENTS,
                    check_counts, compare, create_sql, parse_args, rows)

port, prefix, am, n = parse_args()
data = rows(n)
names = [f"{prefix}_mt", f"{prefix}_heap"]
engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
                          connect_args={"prepare_threshold": 0}, poolclass=sa.pool.StaticPool)

with engine.begin() as conn:
    for sql in create_sql(prefix, am):
        conn.exec_driver_sql(sql)

# Reflection: both tables, the same columns and types.
with engine.connect() as conn:
    tables = [sa.Table(name, sa.MetaData(), autoload_with=conn) for name in names]
    opts = sa.inspect(conn).get_table_options(names[0])
shape = [[(c.name, repr(c.type), c.nullable) for c in t.columns] for t in tables]
if shape[0] != shape[1]:
    sys.exit(f"DIFFERENCE in reflected columns: mergetree {shape[0]} vs heap {shape[1]}")
if [c[0] for c in shape[0]] != COLUMNS:
    sys.exit(f"reflected columns {shape[0]}, want {COLUMNS}")


class Base(DeclarativeBase):
    pass


# ORM classes over the reflected tables (no primary key in the table: the mapper uses id).
classes = [type(f"Row{i}", (Base,), {"__table__": t, "__mapper_args__": {"primary_key": [t.c.id]}})
           for i, t in enumerate(tables)]

# Core: an executemany INSERT ... RETURNING (SQLAlchemy's "insertmanyvalues": multi-row
# INSERTs of up to 1000 rows; without RETURNING psycopg would send one INSERT a row), and a
# multi-row INSERT ... VALUES compiled by Core; ORM: add_all, then one flush per object.
dicts = [dict(zip(COLUMNS, r)) for r in data]
core_rows, orm_rows, single = dicts[:n - BATCHED - SINGLE], dicts[n - BATCHED - SINGLE:n - SINGLE], dicts[n - SINGLE:]
for t, cls in zip(tables, classes):
    with engine.begin() as conn:
        ids = conn.execute(t.insert().returning(t.c.id), core_rows[100:]).scalars().all()
        if sorted(ids) != sorted(d["id"] for d in core_rows[100:]):
            sys.exit(f"{t.name}: INSERT ... RETURNING returned {len(ids)} ids, not those of the {len(core_rows) - 100} rows")
        conn.execute(t.insert().values(core_rows[:100]))
    with Session(engine) as session:
        session.add_all([cls(**d) for d in orm_rows])
        session.commit()
        for d in single:
            session.add(cls(**d))
            session.flush()
        session.commit()


def core_statement(what, t):
    c = t.c
    return {
        "point": sa.select(*t.columns).where(c.id == bp("p0")),
        "key prefix": sa.select(c.id, c.k, c.name).where(c.k == bp("p0")).order_by(c.id),
        "key range and flag": sa.select(func.count(), func.sum(c.amount), func.min(c.ts), func.max(c.score))
        .where(c.k.between(bp("p0"), bp("p1")), c.flag == bp("p2")),
        "timestamptz range": sa.select(c.id, c.ts).where(c.ts >= bp("p0"), c.ts < bp("p1")).order_by(c.id),
        "text equality": sa.select(c.id, c.amount).where(c.name == bp("p0")).order_by(c.id).limit(100),
        "numeric and float8 filters": sa.select(c.k, func.count(), func.sum(c.score))
        .where(c.amount > bp("p0"), c.score < bp("p1")).group_by(c.k).order_by(c.k.nulls_first()),
        "key and id range": sa.select(c.id).where(c.k == bp("p0"), c.id > bp("p1")).order_by(c.id).limit(20),
        "boolean or NULL": sa.select(c.id, c.flag).where(c.flag.is_not_distinct_from(bp("p0")), c.k == bp("p1"))
        .order_by(c.id),
    }[what]


def as_tuples(objs):
    return [tuple(getattr(o, col) for col in COLUMNS) for o in objs]


compared = executions = 0
with engine.connect() as conn, Session(bind=conn) as session:
    for mode, runs in (("auto", range(AUTO_EXECUTIONS)), ("force_generic_plan", range(AUTO_EXECUTIONS, EXECUTIONS))):
        conn.exec_driver_sql(f"SET plan_cache_mode = {mode}")
        for what, _sql, _types, params in STATEMENTS:
            stmts = [core_statement(what, t) for t in tables]
            for j in runs:
                args = {f"p{i}": v for i, v in enumerate(params(j, n))}
                got = [conn.execute(s, args).all() for s in stmts]
                executions += 2
                compare(f"Core statement '{what}' ({mode}) with {args}", *got)
                compared += 1
        # ORM: entities by key, and an aggregate, with bound parameters.
        for j in runs:
            got = [as_tuples(session.scalars(sa.select(cls).where(cls.k == bp("k")).order_by(cls.id), {"k": j * 3 - 20}))
                   for cls in classes]
            executions += 2
            compare(f"ORM entities with k = {j * 3 - 20} ({mode})", *got)
            got = [session.execute(sa.select(cls.flag, func.count(), func.sum(cls.amount), func.max(cls.ts))
                                   .where(cls.score > bp("s")).group_by(cls.flag).order_by(cls.flag.nulls_first()),
                                   {"s": j * 400.0 - 2000}).all() for cls in classes]
            executions += 2
            compare(f"ORM aggregate with score > {j * 400.0 - 2000} ({mode})", *got)
            compared += 2
            session.expunge_all()
    generic, custom = conn.execute(sa.text(PLAN_COUNTS.format(prefix=prefix))).one()
    # Aggregates: the common SQL, and the same built with Core.
    for what, sql in AGGREGATES:
        got = [conn.exec_driver_sql(sql.format(t=name)).all() for name in names]
        compare(f"aggregate '{what}'", *got)
        compared += 1
    core_aggs = [lambda c: sa.select(func.count(), func.count(sa.distinct(c.k)), func.count(sa.distinct(c.name)),
                                     func.sum(c.id), func.sum(c.amount), func.avg(c.amount), func.avg(c.score),
                                     func.min(c.ts), func.max(c.ts), func.min(c.name), func.max(c.name)),
                 lambda c: sa.select(c.k, func.count(), func.sum(c.amount), func.avg(c.k), func.min(c.score), func.max(c.score))
                 .group_by(c.k).order_by(c.k.nulls_first())]
    for i, agg in enumerate(core_aggs):
        got = [conn.execute(agg(t.c)).all() for t in tables]
        compare(f"Core aggregate {i + 1}", *got)
        compared += 1
print(f"reflected: {len(shape[0])} columns alike; mergetree table options {opts}")
check_counts("sqlalchemy", n, compared, executions, generic, custom)
