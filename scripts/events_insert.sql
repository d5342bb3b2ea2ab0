-- The demo's and tests' event rows (shared by scripts/demo.sql and pg_test/sql/size.sql).
-- Needs psql variables :rows (events) and :n_users; inserts into an existing table "events".
-- Users are picked with a skew (u*u), each user belongs to one org, orgs are skewed (h^3),
-- event names are skewed (h^4) over 200 names, timestamps cover 90 days before 2026-11-01.
INSERT INTO events
SELECT timestamp '2026-11-01' - interval '1 millisecond' * (1 + floor(h_ts * 7776000000)),
       'user_' || k,
       'org_' || lpad(floor(1000 * h_org * h_org * h_org)::int::text, 4, '0'),
       ev,
       format('{"page":"/p/%s","browser":"%s","os":"%s","country":"%s","session":"s%s"}',
              floor(500 * h_pg * h_pg)::int,
              ('{chrome,firefox,safari,edge,opera}'::text[])[1 + floor(5 * h_pg * h_pg * h_pg)::int],
              ('{windows,macos,linux,android,ios}'::text[])[1 + floor(5 * h_ts * h_pg)::int],
              ('{us,de,gb,fr,in,br,jp,ca,au,nl}'::text[])[1 + floor(10 * h_org)::int],
              i / 7),
       CASE WHEN h_dur < 0.2 THEN NULL
            ELSE (5 + floor(3000 * pow((h_dur - 0.2) / 0.8, 4)))::int END,
       CASE WHEN h_err < 0.01 THEN
            ('{timeout,"connection reset","500 internal server error","404 not found",'
             '"rate limited","invalid token"}'::text[])[1 + floor(600 * h_err)::int] END
FROM generate_series(1, :rows) AS i,
LATERAL (SELECT (hashint8extended(i, 11) & 2147483647) / 2147483648.0::float8 AS h_user,
                (hashint8extended(i, 12) & 2147483647) / 2147483648.0::float8 AS h_ts,
                (hashint8extended(i, 13) & 2147483647) / 2147483648.0::float8 AS h_ev,
                (hashint8extended(i, 14) & 2147483647) / 2147483648.0::float8 AS h_pg,
                (hashint8extended(i, 15) & 2147483647) / 2147483648.0::float8 AS h_dur,
                (hashint8extended(i, 16) & 2147483647) / 2147483648.0::float8 AS h_err) AS h,
LATERAL (SELECT 1 + floor(:n_users * h_user * h_user)::int AS k) AS u,
LATERAL (SELECT (hashint8extended(k, 7) & 2147483647) / 2147483648.0::float8 AS h_org) AS o,
LATERAL (SELECT floor(200 * pow(h_ev, 4))::int AS n) AS e,
LATERAL (SELECT CASE WHEN n < 20 THEN
           ('{page_view,click,scroll,search,login,add_to_cart,view_item,logout,share,signup,'
            'checkout,purchase,comment,like,upload,download,invite,settings_change,'
            'password_reset,delete_account}'::text[])[n + 1]
           ELSE 'event_' || n END AS ev) AS en;
