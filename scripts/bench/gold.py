#!/usr/bin/env python3
"""Gold cold and incremental: a dirty CSV dataset of --files files (total
--mib MiB) in a local-directory lake; one view aggregating it, read cold
(silver included, empty cache), then again after 1 file changed; DuckDB
computing the same answer from the raw files with its own cleaning SQL in the
same run (1 thread). Prints a markdown table.

    scripts/bench/gold.py [--mib 100] [--files 100]

Local only: no network."""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "mount"))
sys.path.insert(0, HERE)
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from conftest import Mount, duckdb  # noqa: E402
from silver import dirty_row, drop_caches  # noqa: E402

VIEW = """[gold by_customer]
sql = SELECT customer, count(*) AS orders, sum(amount) AS revenue, max(order_date) AS last
      FROM sales WHERE active GROUP BY customer ORDER BY customer
"""

DUCK_SQL = """
WITH raw AS (SELECT * FROM read_csv('{glob}', all_varchar=true, header=true)),
clean AS (
  SELECT DISTINCT
    TRY_CAST("Order ID" AS BIGINT) AS order_id,
    NULLIF(NULLIF(trim("Customer"), ''), 'N/A') AS customer,
    TRY_CAST(replace(replace(trim("Amount"), '$', ''), ',', '') AS DECIMAL(18,2)) AS amount,
    COALESCE(TRY_CAST("Order Date" AS DATE), TRY_STRPTIME("Order Date", '%m/%d/%Y')::DATE) AS order_date,
    lower(trim("Active")) IN ('yes', 'y', 'true', 't') AS active,
    "Note" AS note
  FROM raw)
SELECT customer, count(*) AS orders, sum(amount) AS revenue, max(order_date) AS last
FROM clean WHERE active GROUP BY customer ORDER BY customer
"""


def write_file(path, rows, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write("Order ID,Customer,Amount,Order Date,Active,Note\n")
        f.write("".join(dirty_row(rng, seed * 10_000_000 + i) for i in range(rows)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=100)
    ap.add_argument("--files", type=int, default=100)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mfs-gold-bench-")
    try:
        lake = os.path.join(work, "lake")
        os.makedirs(os.path.join(lake, "sales"))
        rows = max(1, (args.mib << 20) // args.files // 48)
        for i in range(args.files):
            write_file(os.path.join(lake, "sales", "f%03d.csv" % i), rows, i + 1)
        total = sum(os.path.getsize(os.path.join(lake, "sales", f))
                    for f in os.listdir(os.path.join(lake, "sales")))
        pipe = os.path.join(work, "p.ini")
        with open(pipe, "w") as f:
            f.write(VIEW)
        drop_caches()
        t0 = time.monotonic()
        duck = duckdb(DUCK_SQL.format(glob=os.path.join(lake, "sales", "*.csv")))
        t_duck = time.monotonic() - t0
        m = Mount(lake, work, opts="metadata_ttl=1,pipeline=%s,cache_dir=%s" % (
            pipe, os.path.join(work, "cache")))
        with m:
            p = m.path("gold", "by_customer.csv")
            drop_caches()
            t0 = time.monotonic()
            out = open(p).read()
            t_cold = time.monotonic() - t0
            write_file(os.path.join(lake, "sales", "f042.csv"), rows, 4242)
            time.sleep(1.2)
            t0 = time.monotonic()
            open(p).read()
            t_incr = time.monotonic() - t0
        print("| input | files | DuckDB from raw (s) | gold cold (s) | gold/DuckDB | gold after 1 changed (s) | incr/cold |")
        print("|---|---|---|---|---|---|---|")
        print("| %d MiB | %d | %.2f | %.2f | %.2f | %.3f | %.3f |" % (
            total >> 20, args.files, t_duck, t_cold, t_cold / t_duck, t_incr, t_incr / t_cold))
        print("\nrows: gold %d, DuckDB %d" % (out.count("\n") - 1, len(duck["rows"])))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
