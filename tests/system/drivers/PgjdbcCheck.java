// pgjdbc against a mergetree table and a heap table: the checks of common.py in Java (keep
// them in step). CopyManager COPY FROM STDIN (text format), multi-row INSERTs, a batch of
// single-row INSERTs, server-side prepared statements from the first execution
// (prepareThreshold=1) run past the generic-plan switch, aggregates.
//
// usage: java -cp /usr/share/java/postgresql.jar PgjdbcCheck.java PORT PREFIX AM_CLAUSE [ROWS]
import java.io.StringReader;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntFunction;
import org.postgresql.PGConnection;

public class PgjdbcCheck {
    static final String[] COLUMNS = {"id", "k", "name", "amount", "ts", "score", "flag"};
    static final String[] COLUMN_SQL_TYPES = {"int8", "int4", "text", "numeric", "timestamptz", "float8", "bool"};
    static final String COLUMN_TYPES = "id bigint, k int, name text, amount numeric, ts timestamptz, score double precision, flag boolean";
    static final int BATCHED = 1000, SINGLE = 50, BATCH = 190, AUTO_EXECUTIONS = 8, GENERIC_EXECUTIONS = 3;
    static final String[] SPECIAL_NAMES = {"", "tab\there", "line\nbreak", "back\\slash", "quote'\"", "ünïcödé ✓", "comma,semi;|", "  spaces  "};
    static final Instant EPOCH = Instant.parse("2026-01-01T00:00:00Z");
    static int n;

    record Stmt(String what, String sql, String[] types, IntFunction<Object[]> params) {}

    static void fail(String msg) {
        System.err.println(msg);
        System.exit(1);
    }

    static String amountText(int i) {
        if (i % 31 == 0) return ((long) i * 1000003L) + ".000001";
        int v = (i * 37) % 200001 - 100000, a = Math.abs(v);
        return (v < 0 ? "-" : "") + (a / 100) + "." + String.format("%02d", a % 100);
    }

    static OffsetDateTime tsAt(long ms) {
        return EPOCH.plusMillis(ms).atOffset(ZoneOffset.UTC);
    }

    // Row i of n, as common.row.
    static Object[] row(int i) {
        long id = i == n - 1 ? Long.MAX_VALUE : ((long) i * 7919L % 100003L) * 1000003L;
        Integer k = i % 13 == 0 ? null : (i == n - 1 ? Integer.MIN_VALUE : (i % 97) - 48);
        String name = i % 11 == 0 ? null : (i % 29 == 0 ? SPECIAL_NAMES[(i / 29) % SPECIAL_NAMES.length] : "name-" + (i % 50));
        BigDecimal amount = i % 17 == 0 ? null : new BigDecimal(amountText(i));
        OffsetDateTime ts = i % 19 == 0 ? null : tsAt((long) i * 61001L);
        Double score = i % 23 == 0 ? null : ((i * 13) % 40001 - 20000) * 0.25;
        Boolean flag = i % 9 == 0 ? null : i % 3 == 0;
        return new Object[] {id, k, name, amount, ts, score, flag};
    }

    static void bind(PreparedStatement ps, int idx, String type, Object v) throws SQLException {
        switch (type) {
            case "int8" -> { if (v == null) ps.setNull(idx, Types.BIGINT); else ps.setLong(idx, ((Number) v).longValue()); }
            case "int4" -> { if (v == null) ps.setNull(idx, Types.INTEGER); else ps.setInt(idx, ((Number) v).intValue()); }
            case "text" -> { if (v == null) ps.setNull(idx, Types.VARCHAR); else ps.setString(idx, (String) v); }
            case "numeric" -> { if (v == null) ps.setNull(idx, Types.NUMERIC); else ps.setBigDecimal(idx, (BigDecimal) v); }
            case "timestamptz" -> { if (v == null) ps.setNull(idx, Types.TIMESTAMP_WITH_TIMEZONE); else ps.setObject(idx, v); }
            case "float8" -> { if (v == null) ps.setNull(idx, Types.DOUBLE); else ps.setDouble(idx, (Double) v); }
            case "bool" -> { if (v == null) ps.setNull(idx, Types.BOOLEAN); else ps.setBoolean(idx, (Boolean) v); }
            default -> throw new IllegalArgumentException(type);
        }
    }

    // COPY text format: NULL as \N, backslash, tab, newline and carriage return escaped.
    static String copyField(Object v) {
        if (v == null) return "\\N";
        if (v instanceof OffsetDateTime t) return t.toString();
        if (v instanceof Boolean b) return b ? "t" : "f";
        return v.toString().replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r");
    }

    static String insertSql(String table, int nrows) {
        List<String> values = new ArrayList<>();
        for (int r = 0; r < nrows; r++) {
            List<String> ph = new ArrayList<>();
            for (int c = 0; c < 7; c++) ph.add("?");
            values.add("(" + String.join(", ", ph) + ")");
        }
        return "INSERT INTO " + table + " (" + String.join(", ", COLUMNS) + ") VALUES " + String.join(", ", values);
    }

    // Rows as type-tagged strings (a BigDecimal's scale, a Timestamp's nanoseconds).
    static List<String> rows(ResultSet rs) throws SQLException {
        List<String> out = new ArrayList<>();
        ResultSetMetaData md = rs.getMetaData();
        while (rs.next()) {
            StringBuilder sb = new StringBuilder();
            for (int c = 1; c <= md.getColumnCount(); c++) {
                Object o = rs.getObject(c);
                sb.append(c > 1 ? " | " : "").append(o == null ? "null" : o.getClass().getSimpleName() + ":" + o);
            }
            out.add(sb.toString());
        }
        rs.close();
        return out;
    }

    static void compare(String what, List<String> mt, List<String> heap) {
        for (int i = 0; i < Math.max(mt.size(), heap.size()); i++) {
            if (i >= mt.size() || i >= heap.size())
                fail("DIFFERENCE in " + what + ": mergetree returned " + mt.size() + " rows, heap " + heap.size());
            if (!mt.get(i).equals(heap.get(i)))
                fail("DIFFERENCE in " + what + ": row " + i + ": mergetree " + mt.get(i) + " vs heap " + heap.get(i));
        }
    }

    static String q(String sql) {
        return sql.replaceAll("\\$\\d+", "?");
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) fail("usage: PgjdbcCheck.java PORT PREFIX AM_CLAUSE [ROWS]");
        String port = args[0], prefix = args[1], am = args[2];
        n = args.length > 3 ? Integer.parseInt(args[3]) : 20000;
        if (n < 2 * (BATCHED + SINGLE)) fail("ROWS must be at least " + 2 * (BATCHED + SINGLE));
        List<Stmt> statements = List.of(
            new Stmt("point", "SELECT id, k, name, amount, ts, score, flag FROM {t} WHERE id = $1", new String[] {"int8"},
                j -> new Object[] {j % 4 != 0 ? row((j * 997) % n)[0] : 12345L}),
            new Stmt("key prefix", "SELECT id, k, name FROM {t} WHERE k = $1 ORDER BY id", new String[] {"int4"},
                j -> new Object[] {j * 7 - 40}),
            new Stmt("key range and flag", "SELECT count(*), sum(amount), min(ts), max(score) FROM {t} WHERE k BETWEEN $1 AND $2 AND flag = $3",
                new String[] {"int4", "int4", "bool"}, j -> new Object[] {j * 5 - 30, j * 5 - 10, j % 2 == 0}),
            new Stmt("timestamptz range", "SELECT id, ts FROM {t} WHERE ts >= $1 AND ts < $2 ORDER BY id", new String[] {"timestamptz", "timestamptz"},
                j -> new Object[] {tsAt(j * 3000000L), tsAt(j * 3000000L + 20000000L)}),
            new Stmt("text equality", "SELECT id, amount FROM {t} WHERE name = $1 ORDER BY id LIMIT 100", new String[] {"text"},
                j -> new Object[] {j % 2 != 0 ? SPECIAL_NAMES[j % SPECIAL_NAMES.length] : "name-" + (j * 3)}),
            new Stmt("numeric and float8 filters",
                "SELECT k, count(*), sum(score) FROM {t} WHERE amount > $1 AND score < $2 GROUP BY k ORDER BY k NULLS FIRST",
                new String[] {"numeric", "float8"}, j -> new Object[] {new BigDecimal((j * 90 - 500) + ".25"), j * 250.5 - 1000}),
            new Stmt("key and id range", "SELECT id FROM {t} WHERE k = $1 AND id > $2 ORDER BY id LIMIT 20", new String[] {"int4", "int8"},
                j -> new Object[] {j - 5, j * 9000000000L}),
            new Stmt("boolean or NULL", "SELECT id, flag FROM {t} WHERE flag IS NOT DISTINCT FROM $1 AND k = $2 ORDER BY id",
                new String[] {"bool", "int4"}, j -> new Object[] {j % 3 == 0 ? null : j % 3 == 1, j * 4 - 20}));
        String[][] aggregates = {
            {"every row", "SELECT id, k, name, amount, ts, score, flag FROM {t} ORDER BY id"},
            {"counts", "SELECT count(*), count(id), count(k), count(name), count(amount), count(ts), count(score), count(flag) FROM {t}"},
            {"count distinct", "SELECT count(DISTINCT k), count(DISTINCT name), count(DISTINCT flag), count(DISTINCT amount), count(DISTINCT date_trunc('day', ts)) FROM {t}"},
            {"sums and averages", "SELECT sum(id), sum(k), sum(amount), sum(score), avg(id), avg(k), avg(amount), avg(score) FROM {t}"},
            {"min and max", "SELECT min(id), max(id), min(k), max(k), min(name), max(name), min(amount), max(amount), min(ts), max(ts), min(score), max(score), bool_and(flag), bool_or(flag) FROM {t}"},
            {"group by key", "SELECT k, count(*), count(name), sum(amount), avg(score), min(ts), max(name), count(DISTINCT flag) FROM {t} GROUP BY k ORDER BY k NULLS FIRST"},
            {"group by two columns", "SELECT name, flag, count(*), sum(id), max(amount) FROM {t} GROUP BY name, flag ORDER BY name NULLS FIRST, flag NULLS FIRST"},
            {"group by day", "SELECT date_trunc('day', ts), count(*), sum(score), avg(amount), stddev_samp(amount) FROM {t} GROUP BY 1 ORDER BY 1 NULLS FIRST"},
            {"having", "SELECT flag, count(*), avg(k) FROM {t} GROUP BY flag HAVING count(*) > 10 ORDER BY flag NULLS FIRST"},
        };
        String[] tables = {prefix + "_mt", prefix + "_heap"};
        String url = "jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres&prepareThreshold=1";
        try (Connection conn = DriverManager.getConnection(url); Statement st = conn.createStatement()) {
            st.execute("DROP TABLE IF EXISTS " + tables[0] + ", " + tables[1]);
            st.execute("CREATE TABLE " + tables[0] + " (" + COLUMN_TYPES + ") " + am);
            st.execute("CREATE TABLE " + tables[1] + " (" + COLUMN_TYPES + ") USING heap");
            Object[][] data = new Object[n][];
            for (int i = 0; i < n; i++) data[i] = row(i);
            int copied = n - BATCHED - SINGLE;
            StringBuilder copyText = new StringBuilder();
            for (int i = 0; i < copied; i++) {
                for (int c = 0; c < 7; c++) copyText.append(c > 0 ? "\t" : "").append(copyField(data[i][c]));
                copyText.append('\n');
            }
            for (String t : tables) {
                long got = conn.unwrap(PGConnection.class).getCopyAPI()
                    .copyIn("COPY " + t + " (" + String.join(", ", COLUMNS) + ") FROM STDIN", new StringReader(copyText.toString()));
                if (got != copied) fail("COPY into " + t + " reported " + got + " rows, want " + copied);
                for (int lo = copied; lo < n - SINGLE; lo += BATCH) {
                    int hi = Math.min(lo + BATCH, n - SINGLE);
                    try (PreparedStatement ps = conn.prepareStatement(insertSql(t, hi - lo))) {
                        for (int r = lo; r < hi; r++)
                            for (int c = 0; c < 7; c++) bind(ps, (r - lo) * 7 + c + 1, COLUMN_SQL_TYPES[c], data[r][c]);
                        ps.executeUpdate();
                    }
                }
                try (PreparedStatement ps = conn.prepareStatement(insertSql(t, 1))) {
                    for (int r = n - SINGLE; r < n; r++) {
                        for (int c = 0; c < 7; c++) bind(ps, c + 1, COLUMN_SQL_TYPES[c], data[r][c]);
                        ps.addBatch();
                    }
                    int[] counts = ps.executeBatch();
                    if (counts.length != SINGLE) fail("batch into " + t + " ran " + counts.length + " inserts, want " + SINGLE);
                }
            }

            int compared = 0, executions = 0;
            List<PreparedStatement[]> prepared = new ArrayList<>();
            for (Stmt s : statements)
                prepared.add(new PreparedStatement[] {conn.prepareStatement(q(s.sql().replace("{t}", tables[0]))),
                                                      conn.prepareStatement(q(s.sql().replace("{t}", tables[1])))});
            String[][] phases = {{"auto", "0", String.valueOf(AUTO_EXECUTIONS)},
                                 {"force_generic_plan", String.valueOf(AUTO_EXECUTIONS), String.valueOf(AUTO_EXECUTIONS + GENERIC_EXECUTIONS)}};
            for (String[] phase : phases) {
                st.execute("SET plan_cache_mode = " + phase[0]);
                for (int si = 0; si < statements.size(); si++) {
                    Stmt s = statements.get(si);
                    for (int j = Integer.parseInt(phase[1]); j < Integer.parseInt(phase[2]); j++) {
                        Object[] params = s.params().apply(j);
                        List<List<String>> got = new ArrayList<>();
                        for (PreparedStatement ps : prepared.get(si)) {
                            for (int p = 0; p < params.length; p++) bind(ps, p + 1, s.types()[p], params[p]);
                            got.add(rows(ps.executeQuery()));
                            executions++;
                        }
                        compare("statement '" + s.what() + "' (" + phase[0] + ") with " + Arrays.toString(params), got.get(0), got.get(1));
                        compared++;
                    }
                }
            }
            // Counted while the statements are open: pgjdbc closes the server-side statement of
            // a PreparedStatement once it is closed, or garbage collected.
            ResultSet rs = st.executeQuery("SELECT coalesce(sum(generic_plans), 0)::bigint, coalesce(sum(custom_plans), 0)::bigint "
                + "FROM pg_prepared_statements WHERE statement LIKE 'SELECT %" + prefix + "_mt%' AND cardinality(parameter_types) > 0");
            rs.next();
            long generic = rs.getLong(1), custom = rs.getLong(2);
            rs.close();
            for (PreparedStatement[] pair : prepared)
                for (PreparedStatement ps : pair) ps.close();
            for (String[] agg : aggregates) {
                List<List<String>> got = new ArrayList<>();
                for (String t : tables) got.add(rows(st.executeQuery(agg[1].replace("{t}", t))));
                compare("aggregate '" + agg[0] + "'", got.get(0), got.get(1));
                compared++;
            }
            if (generic <= 0) fail("pgjdbc: no generic plan was used for the prepared statements (custom plans: " + custom + ")");
            System.out.println("rows=" + n + " statements=" + compared + " executions=" + executions
                + " generic_plans=" + generic + " custom_plans=" + custom);
        }
    }
}
