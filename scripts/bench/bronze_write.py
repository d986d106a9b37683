#!/usr/bin/env python3
"""Bronze writes: `cp` of one file into a -o writable mount vs boto3's upload_file
(multipart, 8 MiB parts, 10 threads) of the same file to the same loopback
server, in one run. Prints a markdown table.

    scripts/bench/bronze_write.py [--size-mib 256] [--runs 3]

Only 127.0.0.1 is contacted; instance metadata is disabled."""
import argparse
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

from conftest import BUCKET, Mount, S3Server, s3_opts  # noqa: E402


def timed(fn):
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from boto3.s3.transfer import TransferConfig
    work = tempfile.mkdtemp(prefix="mfs-bench-")
    srv = S3Server(work)
    srv.start()
    try:
        src = os.path.join(work, "big.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(args.size_mib << 20))
        size = os.path.getsize(src)
        cfg = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20,
                             max_concurrency=10)
        rows = []
        with Mount("s3://%s/bench" % BUCKET, work, opts=s3_opts(srv, "writable")) as m:
            for i in range(args.runs):
                b = timed(lambda: srv.client.upload_file(src, BUCKET, "bench/boto3-%d.bin" % i,
                                                         Config=cfg))
                c = timed(lambda: subprocess.run(
                    ["cp", src, m.path("bronze", "cp-%d.bin" % i)], check=True))
                rows.append((size / b / 1e6, size / c / 1e6))
        print("| run | boto3 upload_file MB/s | cp into the mount MB/s | ratio |")
        print("|---|---|---|---|")
        for i, (b, c) in enumerate(rows):
            print("| %d | %.0f | %.0f | %.2f |" % (i + 1, b, c, c / b))
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
