"""Differential tests of the gold engine against DuckDB (issue 4, SPEC §5).

A seeded generator writes silver-like CSV files (clean RFC 4180, NULL as an
empty unquoted field) with one schema JSON per file, for three datasets:

  sales      a fact table over five files: NULL-heavy columns, one file
             without `ts`, one file whose `qty` is DECIMAL(18,1) (so the
             combined type widens BIGINT -> DECIMAL), one file with its
             columns in another order, one file with UTC ('Z') timestamps and
             one header-only file;
  customers  a dimension over two files whose `tier` (BIGINT / VARCHAR ->
             VARCHAR) and `score` (DOUBLE / BIGINT -> DOUBLE) disagree, with
             keys unmatched both ways, a NULL key and a duplicated key;
  returns    an empty dataset (one header-only file).

Every query runs through mfs-goldcli on those files and through DuckDB reading
the same files with the combined column types (views over read_csv of each
file with explicit columns, combined with UNION ALL BY NAME). Results are
compared row by row when the query has ORDER BY (all of them order totally)
and as multisets otherwise: decimals exactly, doubles to 1e-9 relative,
dates and timestamps by value, booleans, strings and NULLs exactly.
test_shape checks the output header (DuckDB's column names, aliases included)
and that decimals are printed with DuckDB's result scale.

All DuckDB statements run in one node process (tests/s3server/duckdb-batch.js).
"""
import datetime as dt
import json
import math
import os
import random
import re
import subprocess
from decimal import Decimal

import pytest

from conftest import BUILD, ROOT

GOLDCLI = os.environ.get("MFS_GOLDCLI", os.path.join(BUILD, "tests", "unit", "mfs-goldcli"))
DUCKDB_BATCH_JS = os.path.join(ROOT, "tests", "s3server", "duckdb-batch.js")
SEED = int(os.environ.get("MFS_GOLD_SEED", "20240607"))  # another seed: more data to try

# --------------------------------------------------------------------------
# Data generator
# --------------------------------------------------------------------------

SALES_ORDER = ["order_id", "region", "customer", "status", "amount", "qty", "price",
               "order_date", "ts", "paid"]
SALES_TYPES = {
    "order_id": ("BIGINT", 0), "region": ("VARCHAR", 0), "customer": ("VARCHAR", 0),
    "status": ("VARCHAR", 0), "amount": ("DECIMAL(18,2)", 2), "qty": ("BIGINT", 0),
    "price": ("DOUBLE", 0), "order_date": ("DATE", 0), "ts": ("TIMESTAMP", 0),
    "paid": ("BOOLEAN", 0),
}
CUSTOMERS_ORDER = ["cust_key", "segment", "country", "tier", "score"]
RETURNS_ORDER = ["order_id", "amount", "reason"]
RETURNS_TYPES = {"order_id": ("BIGINT", 0), "amount": ("DECIMAL(18,2)", 2),
                 "reason": ("VARCHAR", 0)}

# The combined (widened) types DuckDB reads every file of a dataset with.
COMBINED = {
    "sales": dict(SALES_TYPES, qty=("DECIMAL(18,1)", 1)),
    "customers": {"cust_key": ("VARCHAR", 0), "segment": ("VARCHAR", 0),
                  "country": ("VARCHAR", 0), "tier": ("VARCHAR", 0),
                  "score": ("DOUBLE", 0)},
    "returns": RETURNS_TYPES,
}
COMBINED_ORDER = {"sales": SALES_ORDER, "customers": CUSTOMERS_ORDER,
                  "returns": RETURNS_ORDER}


def csv_field(v):
    """Silver text form of one value (None: NULL, an empty unquoted field)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        if v == "" or any(c in v for c in ',"\r\n'):
            return '"' + v.replace('"', '""') + '"'
        return v
    return str(v)


def write_file(dirpath, name, columns, rows):
    """columns: [(name, type, scale)]; rows: dicts. Returns (csv, schema)."""
    csv_path = os.path.join(dirpath, name + ".csv")
    schema_path = os.path.join(dirpath, name + ".schema.json")
    with open(csv_path, "w", newline="") as f:
        f.write(",".join(c[0] for c in columns) + "\r\n")
        for r in rows:
            f.write(",".join(csv_field(r.get(c[0])) for c in columns) + "\r\n")
    with open(schema_path, "w") as f:
        json.dump([{"name": c[0], "type": c[1], "scale": c[2], "currency": None}
                   for c in columns], f)
    return csv_path, schema_path


def fmt_dec(units, scale):
    """Decimal text with exactly @scale fractional digits from integer @units."""
    return str(Decimal(units).scaleb(-scale).quantize(Decimal(1).scaleb(-scale)))


def gen_sales_row(rng, oid, qty_decimal=False, utc=False, with_ts=True):
    r = {"order_id": oid}
    r["region"] = rng.choice(["North", "south", " East ", "WEST", "North", "", "Ñorte", None, None])
    if rng.random() < 0.06:
        r["customer"] = None
    elif rng.random() < 0.05:
        r["customer"] = 'c"q, x'
    else:
        r["customer"] = "c%03d" % rng.randint(1, 45)
    r["status"] = rng.choice(["paid", "paid", "refunded", "pending", None])
    x = rng.random()
    if x < 0.2:
        r["amount"] = None
    elif x < 0.25:
        r["amount"] = rng.choice(["-3.25", "12.30", "0.00", "100.00"])
    else:
        r["amount"] = fmt_dec(rng.randint(-5000, 60000), 2)
    if rng.random() < 0.1:
        r["qty"] = None
    elif qty_decimal:
        r["qty"] = fmt_dec(rng.randint(0, 120), 1)
    else:
        r["qty"] = rng.randint(0, 12)
    x = rng.random()
    if x < 0.15:
        r["price"] = None
    elif x < 0.2:
        r["price"] = repr(rng.choice([1 / 3, 1.5e-07, 123456789.125, 0.1 + 0.2, 2.5, -7.0]))
    else:
        r["price"] = repr(round(rng.uniform(0.5, 200), rng.choice([0, 1, 2, 3, 6])))
    if rng.random() < 0.1:
        r["order_date"] = None
    else:
        r["order_date"] = (dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 729))).isoformat()
    if with_ts:
        if rng.random() < 0.15:
            r["ts"] = None
        else:
            t = dt.datetime(2023, 1, 1) + dt.timedelta(seconds=rng.randint(0, 2 * 365 * 86400))
            if rng.random() < 0.3:
                t = t.replace(microsecond=rng.randint(1, 999999))
            r["ts"] = t.isoformat() + ("Z" if utc else "")
    r["paid"] = None if rng.random() < 0.4 else rng.random() < 0.5
    return r


def generate(base):
    """Write all datasets under @base; returns {dataset: [(csv, schema), ...]}."""
    rng = random.Random(SEED)
    out = {"sales": [], "customers": [], "returns": []}
    sdir = os.path.join(base, "sales")
    os.makedirs(sdir)
    ids = rng.sample(range(1, 1000), 70 + 55 + 50 + 45)
    ids_iter = iter(ids)

    def cols(names, types):
        return [(n, types[n][0], types[n][1]) for n in names]

    # part-0: every column, the canonical order
    rows = [gen_sales_row(rng, next(ids_iter)) for _ in range(70)]
    out["sales"].append(write_file(sdir, "part-0", cols(SALES_ORDER, SALES_TYPES), rows))
    # part-1: no `ts` column at all
    rows = [gen_sales_row(rng, next(ids_iter), with_ts=False) for _ in range(55)]
    out["sales"].append(write_file(
        sdir, "part-1", cols([c for c in SALES_ORDER if c != "ts"], SALES_TYPES), rows))
    # part-2: qty is DECIMAL(18,1), columns in another order
    order2 = ["paid", "ts", "qty", "order_id", "price", "customer", "amount", "status",
              "order_date", "region"]
    types2 = dict(SALES_TYPES, qty=("DECIMAL(18,1)", 1))
    rows = [gen_sales_row(rng, next(ids_iter), qty_decimal=True) for _ in range(50)]
    out["sales"].append(write_file(sdir, "part-2", cols(order2, types2), rows))
    # part-3: UTC timestamps
    rows = [gen_sales_row(rng, next(ids_iter), utc=True) for _ in range(45)]
    out["sales"].append(write_file(sdir, "part-3", cols(SALES_ORDER, SALES_TYPES), rows))
    # part-4: header only
    out["sales"].append(write_file(sdir, "part-4", cols(SALES_ORDER, SALES_TYPES), []))

    cdir = os.path.join(base, "customers")
    os.makedirs(cdir)
    segs = ["Enterprise", "SMB", "Consumer", None]
    countries = ["DE", "FR", "US", "us", None]
    rows = []
    for n in range(1, 31):
        rows.append({"cust_key": "c%03d" % n, "segment": rng.choice(segs),
                     "country": rng.choice(countries),
                     "tier": None if rng.random() < 0.2 else rng.randint(1, 3),
                     "score": None if rng.random() < 0.2 else repr(round(rng.uniform(0, 10), 2))})
    c0cols = [("cust_key", "VARCHAR", 0), ("segment", "VARCHAR", 0), ("country", "VARCHAR", 0),
              ("tier", "BIGINT", 0), ("score", "DOUBLE", 0)]
    out["customers"].append(write_file(cdir, "c0", c0cols, rows))
    rows = []
    for key in ["c031", "c032", "c033", "c034", "c035", "c900", "c901", "c902", "c903", 'c"q, x']:
        rows.append({"cust_key": key, "segment": rng.choice(segs[:3]),
                     "country": rng.choice(countries),
                     "tier": rng.choice(["gold", "3", None, ""]),
                     "score": None if rng.random() < 0.2 else rng.randint(0, 10)})
    # a NULL key and a duplicated key (c007 is in c0 too, with another segment)
    rows.append({"cust_key": None, "segment": "SMB", "country": "DE", "tier": "x", "score": 1})
    rows.append({"cust_key": "c007", "segment": "Zeta", "country": "FR", "tier": "2", "score": 4})
    c1cols = [("cust_key", "VARCHAR", 0), ("segment", "VARCHAR", 0), ("country", "VARCHAR", 0),
              ("tier", "VARCHAR", 0), ("score", "BIGINT", 0)]
    out["customers"].append(write_file(cdir, "c1", c1cols, rows))

    rdir = os.path.join(base, "returns")
    os.makedirs(rdir)
    out["returns"].append(write_file(rdir, "r0", cols(RETURNS_ORDER, RETURNS_TYPES), []))
    return out


def duckdb_views(files):
    """CREATE VIEW statements giving DuckDB the combined, typed datasets."""
    stmts = []
    for ds, flist in files.items():
        parts = []
        for csv_path, schema_path in flist:
            with open(schema_path) as f:
                fcols = [c["name"] for c in json.load(f)]
            colspec = ", ".join("'%s': '%s'" % (c, COMBINED[ds][c][0]) for c in fcols)
            parts.append(
                "SELECT * FROM read_csv('%s', header=true, auto_detect=false, delim=',', "
                "quote='\"', escape='\"', allow_quoted_nulls=false, columns={%s})" % (
                    csv_path, colspec))
        union = " UNION ALL BY NAME ".join(parts)
        proj = ", ".join("CAST(%s AS %s) AS %s" % (c, COMBINED[ds][c][0], c)
                         for c in COMBINED_ORDER[ds])
        stmts.append("CREATE VIEW %s AS SELECT %s FROM (%s)" % (ds, proj, union))
    return stmts


# --------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------

J = "FROM sales JOIN customers ON sales.customer = customers.cust_key"
LJ = "FROM sales LEFT JOIN customers ON sales.customer = customers.cust_key"

QUERIES = [
    # -- projection, aliases, select *, widening / missing columns -----------
    ("star_sales", "SELECT * FROM sales"),
    ("star_customers", "SELECT * FROM customers"),
    ("star_empty", "SELECT * FROM returns"),
    ("aliases", "SELECT order_id AS id, region AS r, amount AS amt, qty AS q, ts AS t "
                "FROM sales ORDER BY id"),
    ("constants", "SELECT cust_key, 1 + 2 AS three, 7 / 2 AS half, 'x' AS s, 1.5 * 2 AS d "
                  "FROM customers ORDER BY cust_key, segment"),
    # -- WHERE, comparisons, AND/OR/NOT --------------------------------------
    ("where_gt", "SELECT order_id, amount FROM sales WHERE amount > 100 ORDER BY order_id"),
    ("where_cmp_all", "SELECT order_id FROM sales WHERE amount >= -3.25 AND qty <> 2 "
                      "AND price < 150 AND order_date <= '2024-06-30' ORDER BY order_id"),
    ("where_ne_bang", "SELECT order_id, status FROM sales WHERE status != 'paid' "
                      "ORDER BY order_id"),
    ("where_and_or_not", "SELECT order_id, status, paid FROM sales "
                         "WHERE (status = 'paid' OR status = 'pending') AND NOT paid "
                         "ORDER BY order_id"),
    ("where_bool_col", "SELECT order_id FROM sales WHERE paid ORDER BY order_id DESC"),
    ("where_dec_vs_double", "SELECT order_id, amount, price FROM sales WHERE amount > price "
                            "ORDER BY order_id"),
    ("where_ts_string", "SELECT order_id, ts FROM sales WHERE ts >= '2024-06-01' "
                        "ORDER BY ts, order_id"),
    ("where_false_agg", "SELECT count(*) AS n, sum(amount) AS s, avg(price) AS a, "
                        "min(region) AS m FROM sales WHERE 1 = 0"),
    # -- IS NULL, IN, LIKE, BETWEEN, three-valued logic ----------------------
    ("is_null", "SELECT order_id, region FROM sales WHERE region IS NULL ORDER BY order_id"),
    ("is_not_null", "SELECT order_id FROM sales WHERE amount IS NOT NULL AND price IS NULL "
                    "AND ts IS NULL ORDER BY order_id"),
    ("in_list", "SELECT order_id, status FROM sales WHERE status IN ('paid', 'refunded') "
                "AND order_id IN (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987) "
                "ORDER BY order_id"),
    ("in_decimal", "SELECT order_id, amount FROM sales WHERE amount IN (12.3, -3.25, 0) "
                   "ORDER BY order_id"),
    ("not_in_null", "SELECT count(*) AS n FROM sales WHERE region NOT IN ('North', NULL)"),
    ("not_in", "SELECT region, count(*) AS n FROM sales WHERE region NOT IN ('North', 'WEST') "
               "GROUP BY region ORDER BY region"),
    ("like", "SELECT customer, count(*) AS n FROM sales WHERE customer LIKE 'c0%' "
             "OR customer LIKE '%5' OR customer LIKE 'c_1_' GROUP BY customer ORDER BY customer"),
    ("not_like", "SELECT order_id, customer FROM sales WHERE customer NOT LIKE 'c0%' "
                 "ORDER BY order_id"),
    ("like_special", "SELECT order_id FROM sales WHERE customer LIKE '%\"q,%' "
                     "ORDER BY order_id"),
    ("between", "SELECT order_id, order_date, qty FROM sales "
                "WHERE order_date BETWEEN '2023-06-01' AND '2023-12-31' AND qty BETWEEN 2 AND 5 "
                "ORDER BY order_date, order_id"),
    ("not_between", "SELECT order_id, amount FROM sales WHERE amount NOT BETWEEN -10 AND 10 "
                    "AND order_id < 300 ORDER BY order_id"),
    ("three_valued", "SELECT order_id, paid, NOT paid AS np, paid AND amount > 0 AS a, "
                     "paid OR amount > 0 AS o, region = 'North' AS eqn, "
                     "amount > 0 AND NULL AS an, amount > 0 OR NULL AS orn, "
                     "region IN ('North', 'south') AS inr, customer LIKE 'c01%' AS lk, "
                     "qty BETWEEN 1 AND 3 AS bt FROM sales ORDER BY order_id"),
    ("null_arith", "SELECT order_id, amount + qty AS s, price * qty AS p, amount - NULL AS n, "
                   "qty / order_id AS d FROM sales ORDER BY order_id"),
    # -- arithmetic and result types ------------------------------------------
    ("arith_int", "SELECT order_id, order_id + 1 AS a, order_id - 1000 AS b, order_id * 3 AS c, "
                  "order_id / 4 AS d, -order_id AS e, 7 / 2 AS f FROM sales ORDER BY order_id"),
    ("arith_decimal", "SELECT order_id, amount * 2 AS a, amount * order_id AS b, "
                      "amount + 0.5 AS c, amount - qty AS d, amount * qty AS e, amount / 4 AS f, "
                      "-amount AS g FROM sales ORDER BY order_id"),
    ("arith_double", "SELECT order_id, price * qty AS a, price + amount AS b, price / 2 AS c, "
                     "price - order_id AS d, qty * 1.5 AS e FROM sales ORDER BY order_id"),
    # -- scalar functions ------------------------------------------------------
    ("string_fns", "SELECT order_id, lower(region) AS lo, upper(region) AS up, "
                   "trim(region) AS tr, substr(customer, 2, 2) AS s1, substr(customer, 3) AS s2, "
                   "upper(substr(trim(region), 1, 2)) AS nested FROM sales ORDER BY order_id"),
    ("coalesce", "SELECT order_id, coalesce(region, 'unknown') AS r, coalesce(amount, 0) AS a, "
                 "coalesce(amount, price) AS ap, coalesce(NULL, qty, order_id) AS q "
                 "FROM sales ORDER BY order_id"),
    ("round_abs", "SELECT order_id, round(price, 2) AS p2, round(price) AS p0, "
                  "round(amount, 1) AS a1, round(amount) AS a0, abs(amount) AS aa, "
                  "abs(price) AS ap, abs(qty - 5) AS aq, round(2.5) AS r FROM sales "
                  "ORDER BY order_id"),
    ("cast", "SELECT order_id, cast(amount AS DOUBLE) AS a, cast(qty AS BIGINT) AS q, "
             "cast(order_id AS VARCHAR) AS s, cast(order_date AS TIMESTAMP) AS t, "
             "cast(ts AS DATE) AS d, cast(paid AS VARCHAR) AS b, cast('12' AS BIGINT) AS i, "
             "cast(amount AS VARCHAR) AS av, cast(order_id AS DECIMAL(18,2)) AS od "
             "FROM sales ORDER BY order_id"),
    ("date_fns", "SELECT order_id, year(order_date) AS y, month(order_date) AS m, "
                 "day(order_date) AS d, year(ts) AS ty, month(ts) AS tm, day(ts) AS td "
                 "FROM sales ORDER BY order_id"),
    ("date_trunc", "SELECT order_id, date_trunc('month', order_date) AS dm, "
                   "date_trunc('year', order_date) AS dy, date_trunc('month', ts) AS tm, "
                   "date_trunc('year', ts) AS ty FROM sales ORDER BY order_id"),
    ("case_when", "SELECT order_id, CASE WHEN amount < 0 THEN 'negative' "
                  "WHEN amount = 0 THEN 'zero' WHEN amount < 100 THEN 'small' ELSE 'large' END AS c, "
                  "CASE WHEN paid THEN amount END AS pa, "
                  "CASE WHEN status = 'paid' THEN 1 WHEN status IS NULL THEN NULL ELSE 0 END AS f "
                  "FROM sales ORDER BY order_id"),
    # -- aggregates without GROUP BY -------------------------------------------
    ("agg_unaliased", "SELECT count(*), count(region), count(DISTINCT region), sum(amount), "
                      "avg(price), min(order_date), max(ts) FROM sales"),
    ("agg_all_types", "SELECT count(amount) AS ca, sum(amount) AS sa, avg(amount) AS aa, "
                      "min(amount) AS mina, max(amount) AS maxa, sum(qty) AS sq, avg(qty) AS aq, "
                      "sum(order_id) AS so, avg(order_id) AS ao, sum(price) AS sp, "
                      "min(price) AS minp, max(price) AS maxp, min(region) AS minr, "
                      "max(region) AS maxr, min(ts) AS mints, max(order_date) AS maxd, "
                      "min(paid) AS minb, max(paid) AS maxb, count(DISTINCT customer) AS cdc, "
                      "count(DISTINCT qty) AS cdq, count(DISTINCT paid) AS cdp FROM sales"),
    ("agg_expr", "SELECT sum(amount) / count(*) AS per, max(price) - min(price) AS spread, "
                 "sum(CASE WHEN status = 'paid' THEN amount ELSE 0 END) AS paid_total, "
                 "count(CASE WHEN paid THEN 1 END) AS n_paid, sum(amount * qty) AS w "
                 "FROM sales"),
    # -- GROUP BY (column, alias, position, expression), HAVING --------------
    ("group_col", "SELECT region, count(*) AS n, sum(amount) AS total, avg(amount) AS mean "
                  "FROM sales GROUP BY region ORDER BY region"),
    ("group_alias", "SELECT lower(trim(region)) AS r, count(*) AS n, min(price) AS lo "
                    "FROM sales GROUP BY r ORDER BY r"),
    ("group_position", "SELECT status, paid, count(*) AS n, sum(qty) AS q FROM sales "
                       "GROUP BY 1, 2 ORDER BY 1, 2"),
    ("group_expr", "SELECT year(order_date) AS y, sum(amount) AS s FROM sales "
                   "GROUP BY year(order_date) ORDER BY y"),
    ("group_unordered", "SELECT customer, status, count(*) AS n, sum(amount) AS s, "
                        "count(DISTINCT region) AS dr FROM sales GROUP BY customer, status"),
    ("group_allnull", "SELECT status, sum(CASE WHEN region = 'nowhere' THEN amount END) AS s, "
                      "count(CASE WHEN region = 'nowhere' THEN 1 END) AS c, "
                      "avg(CASE WHEN region = 'nowhere' THEN price END) AS a "
                      "FROM sales GROUP BY status ORDER BY status"),
    ("group_month_ts", "SELECT date_trunc('month', ts) AS m, count(*) AS n, "
                       "sum(amount) AS s FROM sales GROUP BY m ORDER BY m"),
    ("issue_example", "SELECT region, date_trunc('month', order_date) AS month, "
                      "sum(amount) AS revenue, count(*) AS orders, "
                      "count(DISTINCT customer) AS buyers FROM sales WHERE status = 'paid' "
                      "GROUP BY region, month HAVING sum(amount) > 0 ORDER BY month, region"),
    ("having", "SELECT customer, count(*) AS n, sum(amount) AS s FROM sales "
               "GROUP BY customer HAVING count(*) >= 5 AND sum(amount) > 0 ORDER BY customer"),
    ("having_hidden", "SELECT status, count(*) AS n FROM sales GROUP BY status "
                      "HAVING max(price) > 150 OR min(amount) < 0 ORDER BY status"),
    ("count_distinct", "SELECT status, count(DISTINCT customer) AS dc, "
                       "count(DISTINCT region) AS dr, count(region) AS cr FROM sales "
                       "GROUP BY status ORDER BY status"),
    # -- ORDER BY, NULLS LAST, LIMIT --------------------------------------------
    ("order_desc_nulls", "SELECT order_id, amount FROM sales ORDER BY amount DESC, order_id "
                         "LIMIT 200"),
    ("order_asc_nulls", "SELECT order_id, region FROM sales ORDER BY region, order_id DESC"),
    ("order_expr", "SELECT order_id, amount FROM sales ORDER BY abs(amount) DESC, order_id "
                   "LIMIT 12"),
    ("order_alias_pos", "SELECT customer AS c, sum(amount) AS s FROM sales GROUP BY c "
                        "ORDER BY 2 DESC, c"),
    ("order_strings_desc", "SELECT region, max(order_id) AS m FROM sales GROUP BY region "
                           "ORDER BY region DESC"),
    ("limit_0", "SELECT order_id FROM sales ORDER BY order_id LIMIT 0"),
    ("limit_5", "SELECT order_id, ts FROM sales ORDER BY ts DESC, order_id LIMIT 5"),
    # -- joins -------------------------------------------------------------------
    ("join_inner", "SELECT sales.order_id, sales.customer, customers.segment "
                   + J + " ORDER BY sales.order_id, customers.segment"),
    ("join_inner_kw", "SELECT order_id, segment, tier, score FROM sales INNER JOIN customers "
                      "ON customer = cust_key WHERE amount > 0 ORDER BY order_id, segment"),
    ("join_left", "SELECT sales.order_id, customers.cust_key, customers.segment, "
                  "customers.country " + LJ + " ORDER BY sales.order_id, customers.segment"),
    ("join_left_unmatched", "SELECT sales.order_id, sales.customer " + LJ +
                            " WHERE customers.cust_key IS NULL ORDER BY sales.order_id"),
    ("join_group", "SELECT customers.country, count(*) AS n, sum(sales.amount) AS s, "
                   "count(DISTINCT sales.customer) AS dc " + LJ +
                   " GROUP BY customers.country ORDER BY customers.country"),
    ("join_group_segment", "SELECT segment, sum(amount) AS s, avg(score) AS sc " + J +
                           " WHERE segment = 'Enterprise' OR segment = 'SMB' "
                           "GROUP BY segment ORDER BY segment"),
    ("join_dim_left_fact", "SELECT customers.cust_key, customers.segment, "
                           "count(sales.order_id) AS n, sum(sales.amount) AS s "
                           "FROM customers LEFT JOIN sales ON customers.cust_key = sales.customer "
                           "GROUP BY customers.cust_key, customers.segment "
                           "ORDER BY customers.cust_key, customers.segment"),
    ("join_unordered", "SELECT sales.customer, customers.tier, sales.qty " + J),
    # -- widening, UTC timestamps, edge semantics ------------------------------
    ("group_qty_widened", "SELECT qty, count(*) AS n, sum(amount) AS s FROM sales "
                          "GROUP BY qty ORDER BY qty"),
    ("group_tier_widened", "SELECT tier, count(*) AS n, count(DISTINCT score) AS ds, "
                           "sum(score) AS ss FROM customers GROUP BY tier ORDER BY tier"),
    ("distinct_ts_mixed_utc", "SELECT count(DISTINCT date_trunc('year', ts)) AS dy, "
                              "count(DISTINCT cast(ts AS DATE)) AS dd, count(DISTINCT ts) AS dt "
                              "FROM sales"),
    ("ts_equality", "SELECT count(*) AS n FROM sales "
                    "WHERE date_trunc('year', ts) = cast('2024-01-01' AS TIMESTAMP)"),
    ("substr_edges", "SELECT order_id, substr(customer, -2) AS a, substr(customer, 0, 2) AS b, "
                     "substr(region, 2, 100) AS c, lower(region) AS lo, "
                     "region LIKE '_orte' AS lk FROM sales ORDER BY order_id"),
    ("div_zero", "SELECT order_id, order_id / (qty - qty) AS a, price / 0 AS b, "
                 "amount / 0 AS c FROM sales ORDER BY order_id"),
    ("cast_round", "SELECT order_id, cast(price AS BIGINT) AS pb, cast(amount AS BIGINT) AS ab, "
                   "cast(amount AS DECIMAL(18,1)) AS a1, cast(price AS DECIMAL(18,2)) AS p2, "
                   "cast(order_date AS VARCHAR) AS ds, cast('2024-02-29' AS DATE) AS leap "
                   "FROM sales ORDER BY order_id"),
    ("order_by_agg", "SELECT region, count(*) AS n FROM sales GROUP BY region "
                     "ORDER BY sum(amount) DESC, region"),
    ("group_alias_shadow", "SELECT upper(status) AS status, count(*) AS n FROM sales "
                           "GROUP BY status ORDER BY status"),
    ("group_expr_derived", "SELECT year(order_date) + 1 AS ny, count(*) AS n, "
                           "sum(amount) * 2 + count(*) AS mix FROM sales "
                           "GROUP BY year(order_date) ORDER BY ny"),
    ("limit_big", "SELECT region, count(*) AS n FROM sales GROUP BY region "
                  "ORDER BY n DESC, region LIMIT 1000"),
    ("join_star", "SELECT * FROM sales LEFT JOIN customers ON customer = cust_key"),
    ("precedence", "SELECT order_id, order_id + 2 * 3 - 4 / 2 AS a, (order_id + 2) * 3 AS b, "
                   "-order_id * -2 AS c, NOT paid = true AS d, "
                   "status = 'paid' OR status = 'pending' AND paid AS e, "
                   "NOT region IS NULL AS f FROM sales ORDER BY order_id"),
    # -- the empty dataset --------------------------------------------------------
    ("empty_agg", "SELECT count(*) AS n, count(reason) AS cr, sum(amount) AS s, "
                  "avg(amount) AS a, min(order_id) AS lo, max(reason) AS hi, "
                  "count(DISTINCT reason) AS d FROM returns"),
    ("empty_agg_unaliased", "SELECT count(*), sum(amount), max(order_id) FROM returns"),
    ("empty_group", "SELECT reason, count(*) AS n, sum(amount) AS s FROM returns "
                    "GROUP BY reason ORDER BY reason"),
    ("empty_where", "SELECT order_id FROM returns WHERE amount > 0 ORDER BY order_id"),
    ("empty_left_join", "SELECT sales.order_id, returns.reason, returns.amount "
                        "FROM sales LEFT JOIN returns ON sales.order_id = returns.order_id "
                        "ORDER BY sales.order_id LIMIT 20"),
    ("empty_inner_join", "SELECT count(*) AS n, sum(sales.amount) AS s "
                         "FROM sales JOIN returns ON sales.order_id = returns.order_id"),
]

# (id, sql, expected goldcli exit, where the error may point or None, a word
# the message must contain or None). A position is (substring, nth occurrence):
# the LINE:COL of that occurrence's first character; any listed one is fine.
ERRORS = [
    ("unknown_column", "SELECT regoin FROM sales", 2, [("regoin", 1)], "regoin"),
    ("unknown_column_line3", "SELECT region\nFROM sales\nWHERE amout > 0", 2,
     [("amout", 1)], "amout"),
    ("unknown_dataset", "SELECT * FROM salez", 2, [("salez", 1)], "salez"),
    ("unknown_dataset_count", "SELECT count(*) AS n FROM salez", 2, [("salez", 1)], "salez"),
    ("unknown_function", "SELECT frobnicate(amount) FROM sales", 2, [("frobnicate", 1)],
     "frobnicate"),
    ("unknown_join_column", "SELECT sales.order_id FROM sales JOIN customers "
                            "ON sales.customer = customers.custkey", 2,
     [("customers.custkey", 1), ("custkey", 1)], "custkey"),
    ("unknown_in_group_by", "SELECT count(*) FROM sales GROUP BY segmnt", 2, [("segmnt", 1)],
     "segmnt"),
    ("unknown_in_order_by", "SELECT region, count(*) AS n FROM sales GROUP BY region\n"
                            "  ORDER BY nn", 2, [("nn", 1)], "nn"),
    ("unexpected_token", "SELECT region amount total FROM sales", 2, [("total", 1)], "total"),
    ("missing_paren", "SELECT (amount + 1 FROM sales", 2, [("FROM", 1)], None),
    ("missing_by", "SELECT region FROM sales GROUP region", 2, [("region", 2)], None),
    ("unterminated_string", "SELECT 'abc FROM sales", 2, [("'abc", 1)], None),
    ("trailing_garbage", "SELECT region FROM sales ORDER BY region LIMIT 5 5", 2,
     [("5", 2)], None),
    ("bad_operator", "SELECT order_id FROM sales WHERE amount > > 3", 2, [("> 3", 1)], None),
    ("missing_from_dataset", "SELECT region FROM WHERE amount > 0", 2, [("WHERE", 1)], None),
    ("empty_sql", "", 2, None, None),
    ("not_grouped", "SELECT region, count(*) FROM sales GROUP BY status", 2,
     [("region", 1)], "region"),
    ("runtime_cast", "SELECT cast(customer AS BIGINT) AS c FROM sales", 1, None, None),
]

# --------------------------------------------------------------------------
# Running both sides
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def lake(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("goldlake"))
    return generate(base)


def run_duckdb_batch(statements):
    p = subprocess.run(["node", DUCKDB_BATCH_JS], input=json.dumps(statements),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.fixture(scope="session")
def duck(lake):
    """DuckDB's answer to every query and error case, in one node process."""
    views = duckdb_views(lake)
    sqls = [q[1] for q in QUERIES] + [e[1] for e in ERRORS]
    res = run_duckdb_batch(views + sqls)
    for v, r in zip(views, res):
        assert "error" not in r, "view %s: %s" % (v, r["error"])
    res = res[len(views):]
    answers = {}
    for (qid, *_), r in zip(QUERIES, res):
        answers[qid] = r
    for (eid, *_), r in zip(ERRORS, res[len(QUERIES):]):
        answers["error:" + eid] = r
    return answers


def goldcli(lake, sql):
    args = [GOLDCLI, "--sql", sql]
    for ds, flist in lake.items():
        for csv_path, schema_path in flist:
            args += ["--file", "%s=%s:%s" % (ds, csv_path, schema_path)]
    return subprocess.run(args, capture_output=True, timeout=30)


_gold_cache = {}


def gold(lake, qid, sql):
    if qid not in _gold_cache:
        _gold_cache[qid] = goldcli(lake, sql)
    return _gold_cache[qid]


def parse_csv(text):
    """RFC 4180 records; a field is None when empty and unquoted (NULL)."""
    records, rec, i, n = [], [], 0, len(text)
    if n == 0:
        return records
    while True:
        if i < n and text[i] == '"':
            i += 1
            buf = []
            while True:
                if i >= n:
                    raise ValueError("unterminated quoted field")
                c = text[i]
                if c == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(c)
                i += 1
            field = "".join(buf)
            if i < n and text[i] not in ",\r\n":
                raise ValueError("garbage after quoted field at %d" % i)
        else:
            j = i
            while j < n and text[j] not in ",\r\n":
                if text[j] == '"':
                    raise ValueError("quote inside unquoted field at %d" % j)
                j += 1
            field = text[i:j] if j > i else None
            i = j
        rec.append(field)
        if i >= n:
            records.append(rec)
            break
        c = text[i]
        if c == ",":
            i += 1
            continue
        if c == "\r" and i + 1 < n and text[i + 1] == "\n":
            i += 2
        else:
            i += 1
        records.append(rec)
        rec = []
        if i >= n:
            break
    return records


# --------------------------------------------------------------------------
# Normalisation and comparison
# --------------------------------------------------------------------------

INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
             "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
TS_RE = re.compile(r"^(-?\d{4,})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?)?(Z)?$")
INT_RE = re.compile(r"^-?\d+$")


def parse_datetime(text):
    m = TS_RE.match(text)
    if not m:
        return None
    y, mo, d, hh, mi, ss, frac, _z = m.groups()
    us = int((frac or "0").ljust(6, "0")[:6])
    return dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), us)


class Bad:
    """A gold value that does not even parse as the expected type."""

    def __init__(self, kind, text):
        self.kind, self.text = kind, text

    def __eq__(self, other):
        return False

    def __repr__(self):
        return "<unparsable as %s: %r>" % (self.kind, self.text)


def kind_of(duck_type):
    t = duck_type.upper()
    if t in INT_TYPES:
        return "int"
    if t.startswith("DECIMAL"):
        return "dec"
    if t in ("DOUBLE", "FLOAT"):
        return "dbl"
    if t in ("DATE", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
        return "time"
    if t == "BOOLEAN":
        return "bool"
    if t == '"NULL"' or t == "NULL":
        return "null"
    return "str"


def norm(kind, text, side):
    if text is None:
        return None
    try:
        if kind == "int":
            if not INT_RE.match(text):
                return Bad("integer", text)
            return int(text)
        if kind == "dec":
            return Decimal(text)
        if kind == "dbl":
            v = float(text)
            return v
        if kind == "time":
            v = parse_datetime(text)
            return v if v is not None else Bad("date/timestamp", text)
        if kind == "bool":
            if text not in ("true", "false"):
                return Bad("boolean", text)
            return text == "true"
    except (ValueError, ArithmeticError):
        return Bad(kind, text)
    return text


def values_equal(kind, a, b):
    if a is None or b is None:
        return a is None and b is None
    if kind == "dbl" and isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return a == b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def rows_equal(kinds, ra, rb):
    return len(ra) == len(rb) and all(values_equal(k, x, y) for k, x, y in zip(kinds, ra, rb))


def has_order_by(sql):
    return re.search(r"\bORDER\s+BY\b", sql, re.I) is not None


def gold_result(lake, qid, sql):
    p = gold(lake, qid, sql)
    assert p.returncode == 0, "mfs-goldcli exited %d: %s" % (
        p.returncode, p.stderr.decode(errors="replace"))
    recs = parse_csv(p.stdout.decode())
    assert recs, "no header in gold's output"
    return recs[0], recs[1:]


def describe(rows, limit=8):
    return "\n".join("  %r" % (r,) for r in rows[:limit]) + (
        "\n  ... (%d rows)" % len(rows) if len(rows) > limit else "")


@pytest.mark.parametrize("qid,sql", QUERIES, ids=[q[0] for q in QUERIES])
def test_values(lake, duck, qid, sql):
    d = duck[qid]
    assert "error" not in d, "DuckDB rejected the query: %s" % d["error"]
    header, grows = gold_result(lake, qid, sql)
    kinds = [kind_of(c["type"]) for c in d["columns"]]
    assert len(header) == len(kinds), "gold has %d columns %r, DuckDB %d %r" % (
        len(header), header, len(kinds), [c["name"] for c in d["columns"]])
    for i, r in enumerate(grows):
        assert len(r) == len(kinds), "gold row %d has %d fields: %r" % (i, len(r), r)
    g = [[norm(k, v, "gold") for k, v in zip(kinds, r)] for r in grows]
    e = [[norm(k, v, "duck") for k, v in zip(kinds, r)] for r in d["rows"]]
    types = [c["type"] for c in d["columns"]]
    if has_order_by(sql):
        for i, (gr, er) in enumerate(zip(g, e)):
            assert rows_equal(kinds, gr, er), (
                "row %d differs (types %s):\n  gold:   %r\n  duckdb: %r\n  gold raw: %r\n"
                "  duckdb raw: %r" % (i, types, gr, er, grows[i], d["rows"][i]))
        assert len(g) == len(e), "gold has %d rows, DuckDB %d; extra:\n%s" % (
            len(g), len(e), describe(g[len(e):] if len(g) > len(e) else e[len(g):]))
    else:
        unmatched = list(e)
        extra = []
        for gr in g:
            for j, er in enumerate(unmatched):
                if rows_equal(kinds, gr, er):
                    del unmatched[j]
                    break
            else:
                extra.append(gr)
        assert not extra and not unmatched, (
            "multisets differ (types %s): gold %d rows, DuckDB %d rows\n"
            "only in gold:\n%s\nonly in DuckDB:\n%s" % (
                types, len(g), len(e), describe(extra), describe(unmatched)))


@pytest.mark.parametrize("qid,sql", QUERIES, ids=[q[0] for q in QUERIES])
def test_shape(lake, duck, qid, sql):
    """Output header = DuckDB's column names; decimals printed with DuckDB's
    result scale; DATE columns printed as dates."""
    d = duck[qid]
    assert "error" not in d, d.get("error")
    header, grows = gold_result(lake, qid, sql)
    assert header == [c["name"] for c in d["columns"]], "header %r, DuckDB %r" % (
        header, [c["name"] for c in d["columns"]])
    for ci, c in enumerate(d["columns"]):
        m = re.match(r"DECIMAL\((\d+),(\d+)\)", c["type"])
        for r in grows:
            v = r[ci]
            if v is None:
                continue
            if m:
                scale = int(m.group(2))
                want = r"^-?\d+\.\d{%d}$" % scale if scale else r"^-?\d+$"
                assert re.match(want, v), "column %s is %s: %r lacks scale %d" % (
                    c["name"], c["type"], v, scale)
            elif c["type"] == "DATE":
                assert re.match(r"^\d{4}-\d\d-\d\d$", v), "DATE column %s printed %r" % (
                    c["name"], v)
            elif c["type"] == "TIMESTAMP":
                assert re.match(r"^\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d(\.\d{1,6})?Z?)?$", v), (
                    "TIMESTAMP column %s printed %r (want ISO 8601)" % (c["name"], v))


def line_col(sql, sub, nth):
    i = -1
    for _ in range(nth):
        i = sql.index(sub, i + 1)
    line = sql.count("\n", 0, i) + 1
    col = i - (sql.rfind("\n", 0, i) + 1) + 1
    return "%d:%d" % (line, col)


@pytest.mark.parametrize("eid,sql,rc,pos,needle", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(lake, duck, eid, sql, rc, pos, needle):
    d = duck["error:" + eid]
    if sql:  # DuckDB takes an empty string as no statement at all
        assert "error" in d, "DuckDB accepted %r: %r" % (sql, d)
    p = goldcli(lake, sql)
    err = p.stderr.decode(errors="replace")
    assert p.returncode >= 0, "killed by signal %d: %s" % (-p.returncode, err)
    assert p.returncode == rc, "exit %d (want %d), stderr: %s" % (p.returncode, rc, err)
    assert err.strip(), "no message on stderr"
    if rc == 2:
        m = re.search(r"(?:^|[\s:])(\d+):(\d+): (\S.*)", err)
        assert m, "no LINE:COL: message on stderr: %r" % err
        if pos:
            want = [line_col(sql, sub, nth) for sub, nth in pos]
            got = "%s:%s" % (m.group(1), m.group(2))
            assert got in want, "position %s, want %s: %r" % (got, " or ".join(want), err)
        if needle:
            assert needle in m.group(3), "message does not name %r: %r" % (needle, err)


def test_duckdb_sees_the_generated_data(duck, lake):
    """The DuckDB side reads what the generator meant: widening and the
    missing column included (guards the comparison itself)."""
    r = run_duckdb_batch(duckdb_views(lake) + [
        "SELECT count(*), count(ts), count(qty), count(*) FILTER (WHERE qty <> round(qty)), "
        "count(DISTINCT region), "
        "count(*) FILTER (WHERE region = ''), count(*) FILTER (WHERE region = ' East ') "
        "FROM sales",
        "SELECT count(*), count(cust_key), count(DISTINCT cust_key), "
        "count(*) FILTER (WHERE tier = 'gold'), sum(score) FROM customers",
        "SELECT count(*) FROM returns",
        "DESCRIBE sales",
    ])[-4:]
    sales = r[0]["rows"][0]
    assert sales[0] == "220" and int(sales[1]) < 220 - 55
    assert int(sales[3]) > 0  # part-2's DECIMAL(18,1) qty kept its fractions
    assert int(sales[5]) > 0 and int(sales[6]) > 0
    cust = r[1]["rows"][0]
    assert cust[0] == "42" and cust[1] == "41" and cust[2] == "40"
    assert r[2]["rows"][0] == ["0"]
    assert [(row[0], row[1]) for row in r[3]["rows"]] == [
        (c, COMBINED["sales"][c][0]) for c in SALES_ORDER]
