"""silver/: one clean, typed, deduplicated file per tabular bronze object,
computed when read, cached in LMDB, read by real tools."""
import csv
import errno
import io
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import BUCKET, Mount, duckdb, s3_opts, stats
from lakes import make_lake

SALES = (
    "Order ID,Order Date,Customer,Amount,Paid,Note\r\n"
    "1,2024-01-15,  Alice ,\"$1,234.50\",yes,\"has, comma\"\r\n"
    "2,2024-01-16,Bob,$12.00,no,N/A\r\n"
    "3,2024-01-17,Carol,(3.25),Y,\"multi\r\nline\"\r\n"
    "2,2024-01-16,Bob,$12.00,no,N/A\r\n"
    "4,2024-01-18,Dan,7,n,\r\n"
    "5,2024-01-19,Eve,8.5,yes,extra,field\r\n"
)
EXPECTED_HEADER = ["order_id", "order_date", "customer", "amount", "paid", "note"]
EXPECTED_ROWS = [
    ["1", "2024-01-15", "Alice", "1234.50", "true", "has, comma"],
    ["2", "2024-01-16", "Bob", "12.00", "false", ""],
    ["3", "2024-01-17", "Carol", "-3.25", "true", "multi\r\nline"],
    ["4", "2024-01-18", "Dan", "7.00", "false", ""],
]


@pytest.fixture(params=["s3", "local"])
def lake(request, s3server, tmp_path):
    return make_lake(request.param, s3server, tmp_path)


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def norm(rows):
    # Python's csv gives '\n' or '\r\n' inside quoted fields as written
    return [[v.replace("\r\n", "\n") for v in r] for r in rows]


def test_clean_sales_file(lake, mounter):
    lake.put("sales/2024/jan.csv", SALES)
    with mounter(lake.source, lake.opts()) as m:
        p = m.path("silver", "sales", "2024", "jan.csv")
        header, rows = read_csv(p)
        assert header == EXPECTED_HEADER
        assert norm(rows) == norm(EXPECTED_ROWS)
        x = {a: os.getxattr(p, "user.medallion." + a).decode()
             for a in ["rows_in", "rows_out", "rejected", "duplicates", "source", "etag",
                       "fingerprint", "schema"]}
        assert (x["rows_in"], x["rows_out"], x["rejected"], x["duplicates"]) == ("6", "4", "1", "1")
        assert x["source"].endswith("sales/2024/jan.csv")
        schema = {c["name"]: c for c in json.loads(x["schema"])}
        assert schema["order_id"]["type"] == "BIGINT"
        assert schema["order_date"]["type"] == "DATE"
        assert schema["amount"]["type"].startswith("DECIMAL") and schema["amount"]["scale"] == 2
        assert schema["amount"].get("currency") == "$"
        assert schema["paid"]["type"] == "BOOLEAN"
        assert schema["note"]["type"] == "VARCHAR"
        with pytest.raises(OSError) as e:
            os.getxattr(p, "user.other")
        assert e.value.errno == errno.ENODATA
        rej = open(m.path(".medallion", "rejects", "sales", "2024", "jan.csv")).read()
        rrows = list(csv.reader(io.StringIO(rej)))
        assert rrows[0] == ["line", "reason", "raw"] and len(rrows) == 2
        assert rrows[1][0] == "8" and "Eve" in rrows[1][2]
        # wc -c == stat size == bytes read by cat
        size = os.stat(p).st_size
        wc = int(subprocess.run(["wc", "-c", p], capture_output=True, text=True,
                                check=True).stdout.split()[0])
        cat = subprocess.run(["cat", p], capture_output=True, check=True).stdout
        assert size == wc == len(cat) > 0
        assert open(p, "rb").read() == cat


def test_duckdb_and_pandas_style_readers(lake, mounter):
    lake.put("sales/2024/jan.csv", SALES)
    lake.put("sales/2024/feb.csv", SALES.replace("2024-01", "2024-02"))
    with mounter(lake.source, lake.opts()) as m:
        glob = m.path("silver", "sales", "*", "*.csv")
        r = duckdb("SELECT count(*) AS n, sum(amount) AS s, min(order_date) AS d "
                   "FROM read_csv('%s')" % glob)
        n, total, first = r["rows"][0]
        assert n == "8" and abs(float(total) - 2500.50) < 1e-9 and first == "2024-01-15", r
        r = duckdb("DESCRIBE SELECT * FROM read_csv('%s')" % glob)
        types = {row[0]: row[1] for row in r["rows"]}
        assert types["order_id"] == "BIGINT"
        assert types["order_date"] == "DATE"
        assert types["paid"] == "BOOLEAN"
        # Python's csv module reads every row
        with open(m.path("silver", "sales", "2024", "feb.csv"), newline="") as f:
            assert sum(1 for _ in csv.DictReader(f)) == 4


def test_names_only_rule_and_one_transform_per_stat(lake, mounter):
    for i in range(5):
        lake.put("many/f%d.csv" % i, "a,b\n%d,x\n" % i)
    with mounter(lake.source, lake.opts("metadata_ttl=30")) as m:
        d = m.path("silver", "many")
        before = stats(m)["transforms"]
        names = subprocess.run(["ls", "--color=never", d], capture_output=True, text=True,
                               check=True).stdout.split()
        assert names == ["f%d.csv" % i for i in range(5)]
        found = subprocess.run(["find", d, "-name", "*.csv"], capture_output=True, text=True,
                               check=True).stdout.split()
        assert len(found) == 5
        assert stats(m)["transforms"] == before  # names never transform
        os.stat(os.path.join(d, "f3.csv"))
        assert stats(m)["transforms"] == before + 1
        os.stat(os.path.join(d, "f3.csv"))
        open(os.path.join(d, "f3.csv")).read()
        assert stats(m)["transforms"] == before + 1
        # ls -l materialises what it shows (in parallel on the pool)
        out = subprocess.run(["ls", "-l", d], capture_output=True, text=True, check=True).stdout
        assert stats(m)["transforms"] == before + 5
        assert " 0 " not in out


def test_silver_names_and_formats(lake, mounter):
    lake.put("n/a.csv", "x,y\n1,2\n")
    lake.put("n/a.tsv", "x\ty\n3\t4\n")
    lake.put("n/b.psv", "x|y\n5|6\n")
    lake.put("n/c.jsonl", '{"x": 7, "y": {"z": 8}}\n{"x": 9, "y": {"z": 10}}\n')
    lake.put("n/d.json", '[{"x": 1}, {"x": 2}]')
    lake.put("n/notes.txt", "just prose\n")
    lake.put("n/image.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    import gzip
    lake.put("n/e.csv.gz", gzip.compress(b"x,y\n11,12\n", mtime=0))
    with mounter(lake.source, lake.opts()) as m:
        names = sorted(os.listdir(m.path("silver", "n")))
        assert names == ["a.csv", "a.tsv.csv", "b.csv", "c.csv", "d.csv", "e.csv"]
        assert read_csv(m.path("silver", "n", "a.tsv.csv")) == (["x", "y"], [["3", "4"]])
        assert read_csv(m.path("silver", "n", "b.csv")) == (["x", "y"], [["5", "6"]])
        assert read_csv(m.path("silver", "n", "c.csv")) == (["x", "y_z"], [["7", "8"], ["9", "10"]])
        assert read_csv(m.path("silver", "n", "d.csv")) == (["x"], [["1"], ["2"]])
        assert read_csv(m.path("silver", "n", "e.csv")) == (["x", "y"], [["11", "12"]])


def test_binary_csv_is_eio_with_reason(lake, mounter):
    lake.put("bad/garbage.csv", bytes(range(256)) * 64)
    with mounter(lake.source, lake.opts(), expect_stderr=("garbage.csv",)) as m:
        p = m.path("silver", "bad", "garbage.csv")
        assert os.listdir(m.path("silver", "bad")) == ["garbage.csv"]
        with pytest.raises(OSError) as e:
            os.stat(p)
        assert e.value.errno == errno.EIO
        with pytest.raises(OSError) as e:
            open(p).read()
        assert e.value.errno == errno.EIO
        errors = open(m.path(".medallion", "errors")).read()
        assert "garbage.csv" in errors and "table" in errors, errors


def test_hive_columns_and_jsonl_output(lake, mounter, tmp_path):
    lake.put("ev/region=eu/day=2024-01-01/e.jsonl", '{"id": 1}\n{"id": 2}\n')
    pipe = tmp_path / "p.ini"
    pipe.write_text("[silver]\nformat = jsonl\n")
    with mounter(lake.source, lake.opts("pipeline=%s" % pipe)) as m:
        p = m.path("silver", "ev", "region=eu", "day=2024-01-01", "e.jsonl")
        rows = [json.loads(l) for l in open(p)]
        assert rows == [{"id": 1, "region": "eu", "day": "2024-01-01"},
                        {"id": 2, "region": "eu", "day": "2024-01-01"}]
        assert "format = jsonl" in open(m.path(".medallion", "pipeline")).read()


def test_second_read_is_served_from_cache(s3server, mounter, tmp_path):
    lake = make_lake("s3", s3server, tmp_path)
    lake.put("c/x.csv", SALES)
    cache = str(tmp_path / "sharedcache")
    with mounter(lake.source, lake.opts("cache_dir=%s" % cache)) as m:
        p = m.path("silver", "c", "x.csv")
        first = open(p, "rb").read()
        st = stats(m)
        assert st["transforms"] == 1
        assert open(p, "rb").read() == first
        st2 = stats(m)
        assert st2["gets"] == st["gets"] and st2["transforms"] == 1
    # a new mount on the same cache computes nothing and fetches nothing
    with mounter(lake.source, lake.opts("cache_dir=%s" % cache)) as m:
        p = m.path("silver", "c", "x.csv")
        assert open(p, "rb").read() == first
        st = stats(m)
        assert st["transforms"] == 0 and st["gets"] == 0 and st["cache_hits"] >= 1


def test_overwrite_and_pipeline_change_give_new_results(s3server, mounter, tmp_path):
    lake = make_lake("s3", s3server, tmp_path)
    lake.put("o/x.csv", "a,b\n1,2\n")
    cache = str(tmp_path / "c")
    with mounter(lake.source, lake.opts("cache_dir=%s,metadata_ttl=1" % cache)) as m:
        p = m.path("silver", "o", "x.csv")
        assert read_csv(p) == (["a", "b"], [["1", "2"]])
        lake.put("o/x.csv", "a,b\n3,4\n5,6\n")
        time.sleep(1.3)
        assert read_csv(p) == (["a", "b"], [["3", "4"], ["5", "6"]])
    pipe = tmp_path / "p.ini"
    pipe.write_text("[silver]\nformat = jsonl\n")
    with mounter(lake.source, lake.opts("cache_dir=%s,pipeline=%s" % (cache, pipe))) as m:
        rows = [json.loads(l) for l in open(m.path("silver", "o", "x.jsonl"))]
        assert rows == [{"a": 3, "b": 4}, {"a": 5, "b": 6}]
        assert stats(m)["transforms"] == 1


def test_concurrent_first_reads_run_one_transform(lake, mounter):
    lake.put("cc/big.csv", "id,v\n" + "".join("%d,%d\n" % (i, i * 7) for i in range(200000)))
    with mounter(lake.source, lake.opts("metadata_ttl=30")) as m:
        p = m.path("silver", "cc", "big.csv")
        results = []

        def reader():
            with open(p, "rb") as f:
                results.append(f.read())

        threads = [threading.Thread(target=reader) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(results) == 8 and len(set(results)) == 1
        assert results[0].count(b"\n") == 200001
        assert stats(m)["transforms"] == 1
        # .medallion/ answers while transforms run elsewhere
        assert open(m.path(".medallion", "errors")).read() == ""


def test_fail_expectation_and_drop(lake, mounter, tmp_path):
    lake.put("q/orders.csv", "id,amount\n1,10\n2,-5\n3,7\n")
    lake.put("r/orders.csv", "id,amount\n1,10\n2,-5\n3,7\n")
    pipe = tmp_path / "p.ini"
    pipe.write_text("[dataset q]\nprefix = q/\nexpect = positive: amount > 0 -> drop\n\n"
                    "[dataset r]\nprefix = r/\nexpect = positive: amount > 0 -> fail\n")
    with mounter(lake.source, lake.opts("pipeline=%s" % pipe),
                 expect_stderr=("orders.csv",)) as m:
        assert read_csv(m.path("silver", "q", "orders.csv")) == (["id", "amount"],
                                                                [["1", "10"], ["3", "7"]])
        assert os.getxattr(m.path("silver", "q", "orders.csv"), "user.medallion.rejected") == b"1"
        with pytest.raises(OSError) as e:
            open(m.path("silver", "r", "orders.csv"))
        assert e.value.errno == errno.EIO
        assert "positive" in open(m.path(".medallion", "errors")).read()


def test_malformed_pipeline_refuses_mount(tmp_path):
    from conftest import base_env, run_daemon
    src = tmp_path / "src"
    src.mkdir()
    (tmp_path / "mp").mkdir()
    pipe = tmp_path / "bad.ini"
    pipe.write_text("[silver]\nformat = csv\n\n[dataset x]\nprefix = x/\nexpect = e: (a > -> drop\n")
    rc, err = run_daemon([str(src), str(tmp_path / "mp"), "-f", "-o", "pipeline=%s" % pipe],
                         base_env(str(tmp_path)))
    assert rc != 0
    assert err.strip().startswith("medallionfs: %s:6" % pipe), err
    # the same file at the source root is found without -o pipeline=
    (src / "_medallion.ini").write_text("[nonsense\n")
    rc, err = run_daemon([str(src), str(tmp_path / "mp"), "-f"], base_env(str(tmp_path)))
    assert rc != 0 and "_medallion.ini:1" in err, err


def test_kill9_during_transform_then_remount(s3server, tmp_path):
    lake = make_lake("s3", s3server, tmp_path)
    body = "id,v\n" + "".join("%d,%d\n" % (i, i % 97) for i in range(400000))
    lake.put("k/big.csv", body)
    cache = str(tmp_path / "c")
    for _ in range(3):
        m = Mount(lake.source, str(tmp_path), opts=lake.opts("cache_dir=%s" % cache))
        m.start()
        try:
            reader = subprocess.Popen(["cat", m.path("silver", "k", "big.csv")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            m.proc.send_signal(signal.SIGKILL)
            m.proc.wait(10)
            reader.kill()
            reader.wait()
        finally:
            subprocess.run(["fusermount3", "-u", "-z", m.mp])
            m.proc = None
    with Mount(lake.source, str(tmp_path), opts=lake.opts("cache_dir=%s" % cache)) as m:
        header, rows = read_csv(m.path("silver", "k", "big.csv"))
        assert header == ["id", "v"] and len(rows) == 400000
        assert rows[-1] == ["399999", str(399999 % 97)]


def test_small_cache_evicts_and_stays_correct(s3server, mounter, tmp_path):
    lake = make_lake("s3", s3server, tmp_path)
    files = {}
    for i in range(8):  # ~40 MB of barely compressible text through a 16 MiB cache
        body = "id,s\n" + "".join("%d,%s\n" % (j, os.urandom(40).hex()) for j in range(60000))
        files["e/f%d.csv" % i] = body
    lake.put_many(list(files.items()))
    with mounter(lake.source, lake.opts("cache_size=16M,metadata_ttl=30")) as m:
        for _ in range(2):
            for k, body in files.items():
                header, rows = read_csv(m.path("silver", *k.split("/")))
                assert len(rows) == 60000 and rows[123][1] == body.split("\n")[124].split(",")[1]
        assert stats(m)["cache_evictions"] > 0


def test_warm_command(lake, mounter):
    for i in range(6):
        lake.put("w/f%d.csv" % i, "a,b\n%d,x\n" % i)
    lake.put("w/bad.csv", bytes(range(256)) * 64)
    with mounter(lake.source, lake.opts("metadata_ttl=30"), expect_stderr=("bad.csv",)) as m:
        from conftest import MEDALLIONFS
        p = subprocess.run([MEDALLIONFS, "warm", m.path("silver", "w")], capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 1, p.stdout + p.stderr  # one file failed
        lines = p.stdout.splitlines()
        assert sum(1 for l in lines if l.startswith("ok ")) == 6, p.stdout + p.stderr
        assert any(l.startswith("failed ") and "bad.csv" in l and "table" in l for l in lines), (
            lines, open(m.path(".medallion", "errors")).read())
        assert "warmed 6 files" in p.stdout
        assert "bad.csv" in p.stderr
        assert stats(m)["transforms"] >= 6
        # everything is computed now: reading costs no transform
        before = stats(m)["transforms"]
        for i in range(6):
            open(m.path("silver", "w", "f%d.csv" % i)).read()
        assert stats(m)["transforms"] == before
    lake2_ok = subprocess.run([MEDALLIONFS, "warm", "/nonexistent/path"], capture_output=True,
                              text=True, timeout=30)
    assert lake2_ok.returncode == 1 and "nonexistent" in lake2_ok.stderr
