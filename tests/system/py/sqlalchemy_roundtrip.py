"""SQLAlchemy reflection of mergetree tables: reflect a table (its columns, access method
and reloptions), emit CREATE TABLE for a copy under another name, run it, and print what
the copy's catalog says, so the caller can compare it with the original's.

usage: sqlalchemy_roundtrip.py PORT TABLE COPY
"""
import sys

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

port, table, copy = sys.argv[1], sys.argv[2], sys.argv[3]
engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
with engine.begin() as conn:
    # SQLAlchemy leaves out USING when the access method is the session's default.
    conn.exec_driver_sql("SET default_table_access_method = heap")
    meta = sa.MetaData()
    src = sa.Table(table, meta, autoload_with=conn)
    dst = src.to_metadata(sa.MetaData(), name=copy)
    ddl = str(CreateTable(dst).compile(dialect=postgresql.dialect()))
    print("DDL:", " ".join(ddl.split()))
    conn.exec_driver_sql(ddl)
    for name in (table, copy):
        row = conn.exec_driver_sql(
            "SELECT a.amname, c.reloptions FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = %s",
            (name,),
        ).one()
        print(f"{'source' if name == table else 'copy'}: {row[0]} {row[1]}")
