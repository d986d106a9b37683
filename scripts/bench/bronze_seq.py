#!/usr/bin/env python3
"""Bronze sequential read: fio through the mount vs curl of the same object
from the same loopback server, in one run. Prints a markdown table.

    scripts/bench/bronze_seq.py [--size-mib 256] [--runs 3]

Only 127.0.0.1 is contacted; instance metadata is disabled."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "mount"))
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from conftest import BUCKET, MEDALLIONFS, Mount, S3Server, base_env, s3_opts  # noqa: E402


def curl_mbps(url, path):
    out = subprocess.run(["curl", "-s", "-o", path, "-w", "%{size_download} %{time_total}", url],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]) / float(out[1]) / 1e6


def fio_mbps(filename, size_mib):
    env = dict(os.environ, FILE=filename, SIZE="%dM" % size_mib)
    out = subprocess.run(["fio", "--output-format=json", os.path.join(HERE, "fio", "seq_read.fio")],
                         env=env, capture_output=True, text=True, check=True).stdout
    job = json.loads(out)["jobs"][0]["read"]
    return job["bw_bytes"] / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mfs-bench-")
    srv = S3Server(work)
    srv.start()
    try:
        data = os.urandom(args.size_mib << 20)
        srv.put("bench/big.bin", data)
        del data
        url = "%s/%s/bench/big.bin" % (srv.endpoint, BUCKET)
        m = Mount("s3://%s/bench" % BUCKET, work, opts=s3_opts(srv, "metadata_ttl=60"))
        rows = []
        with m:
            path = m.path("bronze", "big.bin")
            for i in range(args.runs):
                c = curl_mbps(url, os.path.join(work, "curl.out"))
                f = fio_mbps(path, args.size_mib)
                rows.append((c, f))
        os.unlink(os.path.join(work, "curl.out"))
        print("| run | curl MB/s | medallionfs fio MB/s | ratio |")
        print("|---|---|---|---|")
        for i, (c, f) in enumerate(rows, 1):
            print("| %d | %.0f | %.0f | %.2f |" % (i, c, f, f / c))
        cb = max(r[0] for r in rows)
        fb = max(r[1] for r in rows)
        print("| best | %.0f | %.0f | %.2f |" % (cb, fb, fb / cb))
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
