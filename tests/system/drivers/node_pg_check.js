// node-postgres (pg, with pg-copy-streams) against a mergetree table and a heap table: the
// checks of common.py in JavaScript (keep them in step). COPY FROM STDIN (text format),
// multi-row INSERTs, single-row named INSERTs, named queries ({name, text, values}: prepared
// once per connection, then bound and executed) past the generic-plan switch, aggregates.
//
// usage: NODE_PATH=.../node_modules node node_pg_check.js PORT PREFIX AM_CLAUSE [ROWS]
'use strict';
const { Client } = require('pg');
const { from: copyFrom } = require('pg-copy-streams');
const { pipeline } = require('stream/promises');
const { Readable } = require('stream');

const [port, prefix, am] = process.argv.slice(2, 5);
const n = Number(process.argv[5] || 20000);
const COLUMNS = ['id', 'k', 'name', 'amount', 'ts', 'score', 'flag'];
const COLUMN_TYPES = 'id bigint, k int, name text, amount numeric, ts timestamptz, score double precision, flag boolean';
const BATCHED = 1000, SINGLE = 50, BATCH = 190, AUTO_EXECUTIONS = 8, GENERIC_EXECUTIONS = 3;
const SPECIAL_NAMES = ['', 'tab\there', 'line\nbreak', 'back\\slash', 'quote\'"', 'ünïcödé ✓', 'comma,semi;|', '  spaces  '];
const EPOCH = Date.UTC(2026, 0, 1);

function fail(msg) { console.error(msg); process.exit(1); }
if (!port || !prefix || !am) fail('usage: node_pg_check.js PORT PREFIX AM_CLAUSE [ROWS]');
if (n < 2 * (BATCHED + SINGLE)) fail(`ROWS must be at least ${2 * (BATCHED + SINGLE)}`);

function amountText(i) {
  if (i % 31 === 0) return `${i * 1000003}.000001`;
  const v = (i * 37) % 200001 - 100000, a = Math.abs(v);
  return `${v < 0 ? '-' : ''}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}
// Row i of n, as common.row (bigint as a string: past 2^53).
function row(i) {
  const id = i === n - 1 ? '9223372036854775807' : String(BigInt((i * 7919) % 100003) * 1000003n);
  const k = i % 13 === 0 ? null : (i === n - 1 ? -2147483648 : (i % 97) - 48);
  const name = i % 11 === 0 ? null : (i % 29 === 0 ? SPECIAL_NAMES[Math.floor(i / 29) % SPECIAL_NAMES.length] : `name-${i % 50}`);
  const amount = i % 17 === 0 ? null : amountText(i);
  const ts = i % 19 === 0 ? null : new Date(EPOCH + i * 61001);
  const score = i % 23 === 0 ? null : ((i * 13) % 40001 - 20000) * 0.25;
  const flag = i % 9 === 0 ? null : i % 3 === 0;
  return [id, k, name, amount, ts, score, flag];
}
// COPY text format: NULL as \N, backslash, tab, newline and carriage return escaped.
function copyField(v) {
  if (v === null) return '\\N';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'boolean') return v ? 't' : 'f';
  return String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}
function insertSql(table, nrows) {
  const values = [];
  for (let r = 0; r < nrows; r++) values.push('(' + COLUMNS.map((_, c) => `$${r * 7 + c + 1}`).join(', ') + ')');
  return `INSERT INTO ${table} (${COLUMNS.join(', ')}) VALUES ${values.join(', ')}`;
}
const tsAt = (ms) => new Date(EPOCH + ms);

const STATEMENTS = [
  ['point', 'SELECT id, k, name, amount, ts, score, flag FROM {t} WHERE id = $1', (j) => [j % 4 ? row((j * 997) % n)[0] : '12345']],
  ['key prefix', 'SELECT id, k, name FROM {t} WHERE k = $1 ORDER BY id', (j) => [j * 7 - 40]],
  ['key range and flag', 'SELECT count(*), sum(amount), min(ts), max(score) FROM {t} WHERE k BETWEEN $1 AND $2 AND flag = $3',
    (j) => [j * 5 - 30, j * 5 - 10, j % 2 === 0]],
  ['timestamptz range', 'SELECT id, ts FROM {t} WHERE ts >= $1 AND ts < $2 ORDER BY id',
    (j) => [tsAt(j * 3000000), tsAt(j * 3000000 + 20000000)]],
  ['text equality', 'SELECT id, amount FROM {t} WHERE name = $1 ORDER BY id LIMIT 100',
    (j) => [j % 2 ? SPECIAL_NAMES[j % SPECIAL_NAMES.length] : `name-${j * 3}`]],
  ['numeric and float8 filters', 'SELECT k, count(*), sum(score) FROM {t} WHERE amount > $1 AND score < $2 GROUP BY k ORDER BY k NULLS FIRST',
    (j) => [`${j * 90 - 500}.25`, j * 250.5 - 1000]],
  ['key and id range', 'SELECT id FROM {t} WHERE k = $1 AND id > $2 ORDER BY id LIMIT 20', (j) => [j - 5, String(j * 9000000000)]],
  ['boolean or NULL', 'SELECT id, flag FROM {t} WHERE flag IS NOT DISTINCT FROM $1 AND k = $2 ORDER BY id',
    (j) => [j % 3 === 0 ? null : j % 3 === 1, j * 4 - 20]],
];
const AGGREGATES = [
  ['every row', 'SELECT id, k, name, amount, ts, score, flag FROM {t} ORDER BY id'],
  ['counts', 'SELECT count(*), count(id), count(k), count(name), count(amount), count(ts), count(score), count(flag) FROM {t}'],
  ['count distinct', "SELECT count(DISTINCT k), count(DISTINCT name), count(DISTINCT flag), count(DISTINCT amount), count(DISTINCT date_trunc('day', ts)) FROM {t}"],
  ['sums and averages', 'SELECT sum(id), sum(k), sum(amount), sum(score), avg(id), avg(k), avg(amount), avg(score) FROM {t}'],
  ['min and max', 'SELECT min(id), max(id), min(k), max(k), min(name), max(name), min(amount), max(amount), min(ts), max(ts), min(score), max(score), bool_and(flag), bool_or(flag) FROM {t}'],
  ['group by key', 'SELECT k, count(*), count(name), sum(amount), avg(score), min(ts), max(name), count(DISTINCT flag) FROM {t} GROUP BY k ORDER BY k NULLS FIRST'],
  ['group by two columns', 'SELECT name, flag, count(*), sum(id), max(amount) FROM {t} GROUP BY name, flag ORDER BY name NULLS FIRST, flag NULLS FIRST'],
  ['group by day', 'SELECT date_trunc(\'day\', ts), count(*), sum(score), avg(amount), stddev_samp(amount) FROM {t} GROUP BY 1 ORDER BY 1 NULLS FIRST'],
  ['having', 'SELECT flag, count(*), avg(k) FROM {t} GROUP BY flag HAVING count(*) > 10 ORDER BY flag NULLS FIRST'],
];
const PLAN_COUNTS = "SELECT coalesce(sum(generic_plans), 0)::bigint, coalesce(sum(custom_plans), 0)::bigint FROM pg_prepared_statements " +
  `WHERE statement LIKE 'SELECT %${prefix}_mt%' AND cardinality(parameter_types) > 0`;

// Rows as type-tagged JSON (a numeric's scale, a Date's milliseconds count).
const norm = (rows) => rows.map((r) => JSON.stringify(r.map((v) => [v === null ? 'null' : v instanceof Date ? 'Date' : typeof v, v])));
function compare(what, mt, heap) {
  const a = norm(mt), b = norm(heap);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      if (i >= a.length || i >= b.length) fail(`DIFFERENCE in ${what}: mergetree returned ${a.length} rows, heap ${b.length}`);
      fail(`DIFFERENCE in ${what}: row ${i}: mergetree ${a[i]} vs heap ${b[i]}`);
    }
  }
}

async function main() {
  const client = new Client({ host: '127.0.0.1', port: Number(port), user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    const tables = [`${prefix}_mt`, `${prefix}_heap`];
    await client.query(`DROP TABLE IF EXISTS ${prefix}_mt, ${prefix}_heap`);
    await client.query(`CREATE TABLE ${prefix}_mt (${COLUMN_TYPES}) ${am}`);
    await client.query(`CREATE TABLE ${prefix}_heap (${COLUMN_TYPES}) USING heap`);
    const data = Array.from({ length: n }, (_, i) => row(i));
    const copied = data.slice(0, n - BATCHED - SINGLE), batched = data.slice(n - BATCHED - SINGLE, n - SINGLE);
    for (const t of tables) {
      const lines = copied.map((r) => r.map(copyField).join('\t') + '\n');
      await pipeline(Readable.from(lines), client.query(copyFrom(`COPY ${t} (${COLUMNS.join(', ')}) FROM STDIN`)));
      for (let lo = 0; lo < batched.length; lo += BATCH) {
        const chunk = batched.slice(lo, lo + BATCH);
        await client.query(insertSql(t, chunk.length), chunk.flat());
      }
      for (const r of data.slice(n - SINGLE)) await client.query({ name: `insert_${t}`, text: insertSql(t, 1), values: r });
    }

    let compared = 0, executions = 0;
    for (const [mode, from, to] of [['auto', 0, AUTO_EXECUTIONS], ['force_generic_plan', AUTO_EXECUTIONS, AUTO_EXECUTIONS + GENERIC_EXECUTIONS]]) {
      await client.query(`SET plan_cache_mode = ${mode}`);
      for (const [si, [what, sql, params]] of STATEMENTS.entries()) {
        for (let j = from; j < to; j++) {
          const got = [];
          for (const t of tables) {
            const res = await client.query({ name: `s${si}_${t}`, text: sql.replace('{t}', t), values: params(j), rowMode: 'array' });
            got.push(res.rows);
            executions++;
          }
          compare(`statement '${what}' (${mode}) with ${JSON.stringify(params(j))}`, ...got);
          compared++;
        }
      }
    }
    const [generic, custom] = (await client.query({ text: PLAN_COUNTS, rowMode: 'array' })).rows[0].map(Number);
    for (const [what, sql] of AGGREGATES) {
      const got = [];
      for (const t of tables) got.push((await client.query({ text: sql.replace('{t}', t), rowMode: 'array' })).rows);
      compare(`aggregate '${what}'`, ...got);
      compared++;
    }
    if (generic <= 0) fail(`node-postgres: no generic plan was used for the prepared statements (custom plans: ${custom})`);
    console.log(`rows=${n} statements=${compared} executions=${executions} generic_plans=${generic} custom_plans=${custom}`);
  } finally {
    await client.end();
  }
}

main().catch((e) => fail(`node-postgres: ${e.stack || e}`));
