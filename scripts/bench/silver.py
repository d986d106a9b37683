#!/usr/bin/env python3
"""Silver throughput and memory: a dirty CSV of --mib MiB in a local-directory
lake, read through silver/ cold (transform + cache fill) and warm (from the
cache), against `cat` of a local file of the same size; peak RSS of the
daemon (VmHWM) for the cold read. Prints a markdown table.

    scripts/bench/silver.py [--mib 100] [--rss-mib 1024]

Local only: no network at all."""
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
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from conftest import Mount  # noqa: E402

NAMES = ["  alice ", "BOB", "Carol", "dave  ", "Eve", "José", "N/A", "", "zoë"]
NOTES = ["ok", "\"fragile, handle with care\"", "\"says \"\"hi\"\"\"", "-", "NULL", "fine"]


def dirty_row(rng, i):
    amount = rng.randrange(1, 10_000_000) / 100
    a = rng.random()
    if a < 0.3:
        amt = "\"$%s\"" % format(amount, ",.2f")
    elif a < 0.6:
        amt = "$%.2f" % amount
    elif a < 0.65:
        amt = "N/A"
    else:
        amt = "%.2f" % amount
    y, m, d = 2020 + rng.randrange(5), rng.randrange(1, 13), rng.randrange(1, 29)
    date = "%04d-%02d-%02d" % (y, m, d) if rng.random() < 0.5 else "%02d/%02d/%04d" % (m, d, y)
    return "%d,%s,%s,%s,%s,%s\n" % (i, rng.choice(NAMES), amt, date,
                                    rng.choice(["yes", "no", "Y", "n"]), rng.choice(NOTES))


def write_dirty(path, mib, seed=1):
    rng = random.Random(seed)
    target = mib << 20
    size = 0
    i = 0
    with open(path, "w") as f:
        f.write("Order ID,Customer,Amount,Order Date,Active,Note\n")
        batch = []
        while size < target:
            i += 1
            row = dirty_row(rng, i)
            batch.append(row)
            if rng.random() < 0.01:
                batch.append(row)  # ~1 % duplicates
            if len(batch) >= 10000:
                s = "".join(batch)
                f.write(s)
                size += len(s)
                batch = []
        f.write("".join(batch))
    return os.path.getsize(path)


def drop_caches():
    try:
        subprocess.run(["sync"])
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        pass


def timed_cat(path):
    t0 = time.monotonic()
    n = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            n += len(b)
    return time.monotonic() - t0, n


def vmhwm(pid):
    """Peak RSS, and the anonymous part of the current RSS (the rest is
    LMDB's mapped file pages, reclaimable page cache)."""
    vals = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "RssAnon", "RssFile"):
                vals[k] = int(v.split()[0]) * 1024
    return vals.get("VmHWM", 0), vals.get("RssAnon", 0)


def run(work, mib):
    lake = os.path.join(work, "lake-%d" % mib)
    os.makedirs(lake)
    src = os.path.join(lake, "dirty.csv")
    insize = write_dirty(src, mib)
    m = Mount(lake, work, opts="metadata_ttl=60,cache_dir=%s" % os.path.join(work, "cache-%d" % mib))
    with m:
        p = m.path("silver", "dirty.csv")
        drop_caches()
        cold, outsize = timed_cat(p)
        rss, anon = vmhwm(m.proc.pid)
        drop_caches()
        warm, _ = timed_cat(p)
    local = os.path.join(work, "local-copy")
    shutil.copyfile(src, local)
    with open(local, "r+b") as f:
        f.truncate(outsize)
    drop_caches()
    base, _ = timed_cat(local)
    os.unlink(local)
    shutil.rmtree(lake)
    return insize, outsize, cold, warm, base, rss, anon


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=100)
    ap.add_argument("--rss-mib", type=int, default=1024)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mfs-silver-bench-")
    try:
        rows = []
        for mib in [args.mib] + ([args.rss_mib] if args.rss_mib else []):
            rows.append((mib,) + run(work, mib))
        print("| input | silver out | cold MB/s (input) | warm MB/s | local cat MB/s | warm/cat "
              "| peak RSS MiB | anon RSS after MiB |")
        print("|---|---|---|---|---|---|---|---|")
        for mib, insize, outsize, cold, warm, base, rss, anon in rows:
            print("| %d MiB | %.0f MiB | %.0f | %.0f | %.0f | %.2f | %.0f | %.0f |" % (
                insize >> 20, outsize / 2**20, insize / cold / 1e6, outsize / warm / 1e6,
                outsize / base / 1e6, (outsize / warm) / (outsize / base), rss / 2**20,
                anon / 2**20))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
