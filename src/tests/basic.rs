use pgrx::prelude::*;

#[pg_test]
fn insert_and_read_back() {
    Spi::run("CREATE TABLE t (a int, b text) USING mergetree WITH (order_by = 'a')").unwrap();
    Spi::run("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g").unwrap();
    let n = Spi::get_one::<i64>("SELECT count(*) FROM t").unwrap();
    assert_eq!(n, Some(1000));
    let s = Spi::get_one::<i64>("SELECT sum(a)::int8 FROM t").unwrap();
    assert_eq!(s, Some(500500));
}
