"""The S3 client (store/s3.c, http.c, s3_xml.c) through mfs-storecli, without a
mount: listings with pagination and awkward keys, HEAD, byte-exact ranged
GETs, ETag pinning, the mount-time check's messages, retries and their
limits behind a fault-injecting proxy, timeouts, abort, https with a private
CA, addressing styles, and secrets kept out of debug output.

Everything talks to 127.0.0.1 only; every child runs with
AWS_EC2_METADATA_DISABLED=true (base_env).
"""
import concurrent.futures
import datetime
import os
import random
import re
import subprocess
import time

import pytest

from conftest import (ACCESS_KEY, BUCKET, SECRET_KEY, SERVER_JS, STORECLI, base_env, free_port,
                      wait_port)
from faultproxy import FaultProxy

P = "s3client/"  # this file's corner of the shared bucket


@pytest.fixture(scope="module", autouse=True)
def cleanup(s3server):
    """Leave the shared bucket as we found it: other files list its root."""
    yield
    pag = s3server.client.get_paginator("list_objects_v2")
    for page in pag.paginate(Bucket=BUCKET, Prefix=P):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3server.client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys})


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return str(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def env(home):
    return base_env(home)


def run(args, env, timeout=120):
    p = subprocess.run([STORECLI] + list(args), env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    err = p.stderr.decode(errors="replace")
    # UBSan reports and goes on with status 0: its words must fail the test.
    assert "runtime error" not in err and "Sanitizer" not in err, err
    return p.returncode, p.stdout, err


def cli(endpoint, source, *cmd, env, opts=(), timeout=120):
    args = ["--endpoint", endpoint, "--path-style", "--connect-timeout", "2",
            "--request-timeout", "5", "--retries", "2"] + list(opts) + [source] + list(cmd)
    return run(args, env, timeout)


def ok(result):
    rc, out, err = result
    assert rc == 0, err
    return out


def parse_list(out):
    files, dirs = {}, []
    for line in out.decode().splitlines():
        if line.startswith("F "):
            key, size, mtime, etag = line[2:].rsplit(" ", 3)
            files[key] = (int(size), int(mtime), etag)
        elif line.startswith("D "):
            dirs.append(line[2:])
        else:
            raise AssertionError("unexpected line %r" % line)
    return files, dirs


def put_many(server, items, workers=32):
    client = server.client  # boto3 clients are thread-safe; create it once here
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        list(ex.map(lambda kv: client.put_object(Bucket=BUCKET, Key=kv[0], Body=kv[1]), items))


def boto_list(server, prefix):
    """What boto3 sees for the same prefix: the reference for keys."""
    pag = server.client.get_paginator("list_objects_v2")
    files, dirs = {}, []
    for page in pag.paginate(Bucket=BUCKET, Prefix=prefix, Delimiter="/"):
        for o in page.get("Contents", []):
            files[o["Key"]] = o
        dirs += [d["Prefix"] for d in page.get("CommonPrefixes", [])]
    return files, dirs


# ---- listings ----

def test_list_pagination_2500_keys(s3server, env):
    keys = ["%smany/k%05d.txt" % (P, i) for i in range(2500)]
    put_many(s3server, [(k, k.encode()) for k in keys])
    with FaultProxy(s3server.port) as proxy:
        out = ok(cli(proxy.endpoint, "s3://%s/%smany" % (BUCKET, P), "list", "", env=env))
        lists = [r for r in proxy.requests if "list-type=2" in r.path]
        connections = proxy.connections
    files, dirs = parse_list(out)
    assert dirs == []
    assert len(files) == 2500
    assert list(files) == sorted(k[len(P) + 5:] for k in keys)
    assert all(files[k[len(P) + 5:]][0] == len(k) for k in keys)
    # 1 000 keys a page: three requests, the later ones with a continuation token.
    assert len(lists) == 3
    assert "continuation-token=" not in lists[0].path
    assert all("continuation-token=" in r.path for r in lists[1:])
    # The pages travelled over one kept-alive connection.
    assert connections == 1


def test_nested_prefixes_and_markers(s3server, env):
    base = P + "tree/"
    for k, v in [("a/b/c.txt", b"c"), ("a/d.txt", b"dd"), ("e.txt", b"eee"),
                 ("a/b/", b""), ("empty/", b"")]:
        s3server.put(base + k, v)
    src = "s3://%s/%stree" % (BUCKET, P)
    files, dirs = parse_list(ok(cli(s3server.endpoint, src, "list", "", env=env)))
    assert list(files) == ["e.txt"] and files["e.txt"][0] == 3
    assert dirs == ["a/", "empty/"]
    files, dirs = parse_list(ok(cli(s3server.endpoint, src, "list", "a/", env=env)))
    assert list(files) == ["a/d.txt"] and dirs == ["a/b/"]
    # The "a/b/" folder marker is the directory itself, not a child of it.
    files, dirs = parse_list(ok(cli(s3server.endpoint, src, "list", "a/b/", env=env)))
    assert list(files) == ["a/b/c.txt"] and dirs == []
    files, dirs = parse_list(ok(cli(s3server.endpoint, src, "list", "empty/", env=env)))
    assert files == {} and dirs == []
    # A prefix that does not exist is an empty listing, not an error.
    assert ok(cli(s3server.endpoint, src, "list", "nothing/", env=env)) == b""
    rc, _, err = cli(s3server.endpoint, src, "list", "a", env=env)
    assert rc == 1 and "[EINVAL]" in err


def test_zero_byte_and_case(s3server, env):
    base = P + "case/"
    s3server.put(base + "zero.bin", b"")
    s3server.put(base + "Data.csv", b"upper\n")
    s3server.put(base + "data.csv", b"lower!\n")
    src = "s3://%s/%scase" % (BUCKET, P)
    files, _ = parse_list(ok(cli(s3server.endpoint, src, "list", "", env=env)))
    assert list(files) == ["Data.csv", "data.csv", "zero.bin"]
    assert files["zero.bin"][0] == 0
    assert ok(cli(s3server.endpoint, src, "get", "zero.bin", env=env)) == b""
    assert ok(cli(s3server.endpoint, src, "get", "zero.bin", "0", "10", env=env)) == b""
    assert ok(cli(s3server.endpoint, src, "get", "Data.csv", env=env)) == b"upper\n"
    assert ok(cli(s3server.endpoint, src, "get", "data.csv", env=env)) == b"lower!\n"
    out = ok(cli(s3server.endpoint, src, "head", "zero.bin", env=env))
    assert out.decode().split(" ")[2] == "0"


SPECIAL = ["with space.txt", "plus+sign.txt", "per%cent.txt", "tilde~.txt", "equals=1.txt",
           "amp&ersand.txt", "caf\u00e9/\u65e5\u672c\u8a9e \U0001F600.txt", "a+b %20c.txt",
           "semi;colon,comma.txt", "dollar$@at.txt", "star*.txt", "lt<gt>.txt",
           "quote\"s.txt", "apos's.txt", "lit&amp;.txt", "paren(1).txt"]


def test_special_keys(s3server, env):
    base = P + "special/"
    for i, k in enumerate(SPECIAL):
        s3server.put(base + k, ("%d:%s" % (i, k)).encode())
    src = "s3://%s/%sspecial" % (BUCKET, P)
    files, dirs = parse_list(ok(cli(s3server.endpoint, src, "list", "", env=env)))
    ref_files, ref_dirs = boto_list(s3server, base)
    # The keys exactly as written, in byte order, as boto3 reads them too.
    assert list(files) == sorted(k for k in SPECIAL if "/" not in k)
    assert sorted(files) == sorted(k[len(base):] for k in ref_files)
    assert dirs == [d[len(base):] for d in ref_dirs] == ["caf\u00e9/"]
    for i, k in enumerate(SPECIAL):
        data = ("%d:%s" % (i, k)).encode()
        assert ok(cli(s3server.endpoint, src, "get", k, env=env)) == data, k
        assert ok(cli(s3server.endpoint, src, "get", k, "1", "3", env=env)) == data[1:4], k
        out = ok(cli(s3server.endpoint, src, "head", k, env=env)).decode()
        assert out.startswith("F %s %d " % (k, len(data))), out
    sub, _ = parse_list(ok(cli(s3server.endpoint, src, "list", "caf\u00e9/", env=env)))
    assert list(sub) == ["caf\u00e9/\u65e5\u672c\u8a9e \U0001F600.txt"]


def test_head_matches_boto3(s3server, env):
    key = P + "head/obj.bin"
    data = os.urandom(12345)
    s3server.put(key, data)
    ref = s3server.client.head_object(Bucket=BUCKET, Key=key)
    out = ok(cli(s3server.endpoint, "s3://%s/%shead" % (BUCKET, P), "head", "obj.bin", env=env))
    f, _ = parse_list(out)
    size, mtime_ns, etag = f["obj.bin"]
    assert size == 12345
    assert etag == ref["ETag"].strip('"')
    assert mtime_ns // 10**9 == int(ref["LastModified"].timestamp())
    # The listing agrees with HEAD (ETag; mtime to the second, the listing has ms).
    lf, _ = parse_list(ok(cli(s3server.endpoint, "s3://%s/%shead" % (BUCKET, P), "list", "",
                              env=env)))
    assert lf["obj.bin"][2] == etag and lf["obj.bin"][1] // 10**9 == mtime_ns // 10**9
    rc, _, err = cli(s3server.endpoint, "s3://%s/%shead" % (BUCKET, P), "head", "missing",
                     env=env)
    assert rc == 1 and "[ENOENT]" in err


# ---- ranged reads ----

@pytest.fixture(scope="module")
def big(s3server):
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 17)
    s3server.put(P + "big/obj.bin", data)
    etag = s3server.client.head_object(Bucket=BUCKET, Key=P + "big/obj.bin")["ETag"].strip('"')
    return data, etag


def test_ranged_gets_byte_exact(s3server, env, big):
    data, etag = big
    src = "s3://%s/%sbig" % (BUCKET, P)
    n = len(data)
    rnd = random.Random(11)
    cases = [(0, n), (0, 1), (n - 1, 1), (n - 1, 100), (n, 10), (n + 5, 10), (1, n + 1000),
             (65535, 65537)]
    cases += [(rnd.randrange(n), rnd.randrange(1, 300000)) for _ in range(30)]
    for off, ln in cases:
        out = ok(cli(s3server.endpoint, src, "get", "obj.bin", str(off), str(ln), etag, env=env))
        assert out == data[off:off + ln], (off, ln)
    assert ok(cli(s3server.endpoint, src, "get", "obj.bin", env=env)) == data


def test_parallel_reader_threads(s3server, env, big):
    data, _ = big
    out = ok(cli(s3server.endpoint, "s3://%s/%sbig" % (BUCKET, P), "pget", "obj.bin", "8",
                 env=env))
    assert out == data


def test_connections_reused_across_threads(s3server, env, big, proxy):
    data, _ = big
    out = ok(cli(proxy.endpoint, "s3://%s/%sbig" % (BUCKET, P), "pget", "obj.bin", "2",
                 env=env))
    assert out == data
    # 1 HEAD + 4 ranges of 1 MiB; the two reader threads need two connections
    # and keep them alive: the HEAD's connection is reused by one of them.
    assert len(proxy.requests) == 5
    assert proxy.connections <= 2


def test_etag_pinned_mismatch_is_estale(s3server, env, big):
    data, etag = big
    src = "s3://%s/%sbig" % (BUCKET, P)
    rc, out, err = cli(s3server.endpoint, src, "get", "obj.bin", "0", "100", "0" * 32, env=env)
    assert rc == 1 and out == b"" and "[ESTALE]" in err and "changed" in err
    # Past the end: the 416 is checked against the pinned version too.
    rc, out, err = cli(s3server.endpoint, src, "get", "obj.bin", str(len(data) + 1), "10",
                       "0" * 32, env=env)
    assert rc == 1 and "[ESTALE]" in err
    assert ok(cli(s3server.endpoint, src, "get", "obj.bin", "5", "5", etag, env=env)) == data[5:10]


# ---- the mount-time check ----

def test_check_ok(s3server, env):
    assert ok(cli(s3server.endpoint, "s3://%s" % BUCKET, "check", env=env)) == b"ok\n"
    assert ok(cli(s3server.endpoint, "s3://%s/%snothing" % (BUCKET, P), "check", env=env)) == b"ok\n"


def test_check_wrong_secret(s3server, env):
    e = dict(env, AWS_SECRET_ACCESS_KEY="not-the-secret")
    rc, _, err = cli(s3server.endpoint, "s3://%s" % BUCKET, "check", env=e)
    assert rc == 1
    assert "credentials rejected by the server (SignatureDoesNotMatch)" in err
    assert "[EACCES]" in err and "not-the-secret" not in err
    assert len(err.strip().splitlines()) == 1


def test_check_unknown_access_key(s3server, env):
    e = dict(env, AWS_ACCESS_KEY_ID="NOBODY")
    rc, _, err = cli(s3server.endpoint, "s3://%s" % BUCKET, "check", env=e)
    assert rc == 1 and "(InvalidAccessKeyId)" in err and "[EACCES]" in err


def test_check_unknown_bucket(s3server, env):
    rc, _, err = cli(s3server.endpoint, "s3://no-such-bucket-here", "check", env=env)
    assert rc == 1
    assert "bucket no-such-bucket-here does not exist (NoSuchBucket)" in err
    assert "[ENOENT]" in err


def test_anonymous_requests_are_unsigned(s3server, env, proxy):
    # s3rver serves its buckets to anonymous requests: they must go unsigned.
    src = "s3://%s/%smid" % (BUCKET, P)
    assert ok(cli(proxy.endpoint, src, "check", env=env, opts=["--anonymous"])) == b"ok\n"
    assert all("authorization" not in r.headers and "x-amz-date" not in r.headers
               for r in proxy.requests)
    # A private bucket answers AccessDenied: say what to do about it.
    proxy.set("403", -1)
    rc, _, err = cli(proxy.endpoint, src, "check", env=env, opts=["--anonymous"])
    assert rc == 1 and "[EACCES]" in err
    assert "access denied to s3://%s/%smid/ (AccessDenied)" % (BUCKET, P) in err
    assert "anonymous" in err
    proxy.set("none")
    assert ok(cli(proxy.endpoint, src, "check", env=env)) == b"ok\n"
    assert all("authorization" in r.headers for r in proxy.requests)


def test_check_unreachable_endpoint(env):
    port = free_port()  # bound then closed: nothing listens there
    t0 = time.monotonic()
    rc, _, err = run(["--endpoint", "http://127.0.0.1:%d" % port, "--connect-timeout", "1",
                      "--retries", "2", "s3://%s" % BUCKET, "check"], env, timeout=30)
    elapsed = time.monotonic() - t0
    assert rc == 1
    assert "cannot reach endpoint http://127.0.0.1:%d" % port in err
    assert "check endpoint=" in err and "[ECONNREFUSED]" in err
    # connect_timeout x attempts, plus at most 0.1 + 0.2 s of backoff, plus startup.
    assert elapsed < 1 * 3 + 2


def test_bad_endpoint_syntax(env):
    rc, _, err = run(["--endpoint", "127.0.0.1:9", "s3://%s" % BUCKET, "check"], env)
    assert rc == 1 and "invalid endpoint" in err


# ---- retries, behind the fault proxy ----

@pytest.fixture(scope="module")
def mid(s3server):
    data = random.Random(5).randbytes(1024 * 1024 + 3)
    s3server.put(P + "mid/obj.bin", data)
    return data


@pytest.fixture
def proxy(s3server):
    p = FaultProxy(s3server.port).start()
    yield p
    p.close()


@pytest.mark.parametrize("mode", ["503", "500", "reset", "truncate"])
def test_transient_faults_are_retried(s3server, env, mid, proxy, mode):
    src = "s3://%s/%smid" % (BUCKET, P)
    proxy.set(mode, 2)
    out = ok(cli(proxy.endpoint, src, "get", "obj.bin", env=env, opts=["--retries", "3"]))
    assert out == mid
    assert len(proxy.requests) == 3
    assert [r.faulted for r in proxy.requests] == [True, True, False]
    if mode == "truncate":
        # The retries resumed after the bytes already delivered.
        starts = [int(re.match(r"bytes=(\d+)-", r.headers["range"]).group(1))
                  for r in proxy.requests]
        assert starts[0] == 0 and starts[1] > 0 and starts[2] > starts[1]
    proxy.set(mode, 2)
    files, _ = parse_list(ok(cli(proxy.endpoint, src, "list", "", env=env,
                                 opts=["--retries", "3"])))
    assert files["obj.bin"][0] == len(mid)
    assert len(proxy.requests) == 3


def test_retries_are_bounded(s3server, env, mid, proxy):
    proxy.set("500", -1)
    rc, _, err = cli(proxy.endpoint, "s3://%s/%smid" % (BUCKET, P), "get", "obj.bin", env=env,
                     opts=["--retries", "2"])
    assert rc == 1 and "InternalError" in err and "[EIO]" in err
    assert len(proxy.requests) == 3


@pytest.mark.parametrize("mode,errno_name", [("403", "EACCES"), ("404", "ENOENT")])
def test_4xx_not_retried(s3server, env, mid, proxy, mode, errno_name):
    proxy.set(mode, -1)
    for cmd in (["get", "obj.bin"], ["head", "obj.bin"], ["list", ""]):
        proxy.set(mode, -1)
        rc, out, err = cli(proxy.endpoint, "s3://%s/%smid" % (BUCKET, P), *cmd, env=env,
                           opts=["--retries", "4"])
        assert rc == 1 and out == b"" and "[%s]" % errno_name in err, (cmd, err)
        assert len(proxy.requests) == 1, cmd


def test_archived_object(s3server, env, mid, proxy):
    proxy.set("archived", -1)
    rc, _, err = cli(proxy.endpoint, "s3://%s/%smid" % (BUCKET, P), "get", "obj.bin", env=env)
    assert rc == 1 and "[EIO]" in err
    assert "object is archived (InvalidObjectState): restore it first" in err
    assert len(proxy.requests) == 1


def test_request_timeout_stall(s3server, env, mid, proxy):
    proxy.set("stall", -1)
    t0 = time.monotonic()
    rc, _, err = cli(proxy.endpoint, "s3://%s/%smid" % (BUCKET, P), "get", "obj.bin", env=env,
                     opts=["--request-timeout", "1", "--retries", "1"])
    elapsed = time.monotonic() - t0
    assert rc == 1 and "[ETIMEDOUT]" in err
    assert len(proxy.requests) == 2
    assert 1.5 < elapsed < 6


def test_stalled_body_resumes(s3server, env, mid, proxy):
    proxy.set("stall-body", 1)
    out = ok(cli(proxy.endpoint, "s3://%s/%smid" % (BUCKET, P), "get", "obj.bin", env=env,
                 opts=["--request-timeout", "1", "--retries", "2"]))
    assert out == mid
    assert len(proxy.requests) == 2
    assert proxy.requests[1].headers["range"] != proxy.requests[0].headers["range"]


def test_abort_stops_transfer_in_flight(s3server, env, mid, proxy):
    proxy.set("stall", -1)
    t0 = time.monotonic()
    rc, _, err = cli(proxy.endpoint, "s3://%s/%smid" % (BUCKET, P), "get", "obj.bin", env=env,
                     opts=["--request-timeout", "30", "--abort-after", "0.5"])
    elapsed = time.monotonic() - t0
    assert rc == 1 and "[ECANCELED]" in err
    # abort() wakes the transfer at once (0.5 s + process start and exit).
    assert elapsed < 1.2


def test_abort_interrupts_backoff(s3server, env, mid, proxy):
    proxy.set("503", -1)
    t0 = time.monotonic()
    rc, _, err = cli(proxy.endpoint, "s3://%s/%smid" % (BUCKET, P), "get", "obj.bin", env=env,
                     opts=["--retries", "50", "--abort-after", "1"])
    elapsed = time.monotonic() - t0
    assert rc == 1 and "[ECANCELED]" in err
    assert elapsed < 2.5


# ---- addressing ----

def test_virtual_hosted_addressing(env, proxy):
    # curl resolves *.localhost to the loopback address itself.
    proxy.set("404", -1)
    endpoint = "http://localhost:%d" % proxy.port
    rc, _, err = run(["--endpoint", endpoint, "--virtual-host", "--retries", "0",
                      "s3://%s/%svh" % (BUCKET, P), "head", "a b+c.txt"], env)
    assert rc == 1 and "[ENOENT]" in err
    r = proxy.requests[0]
    assert r.headers["host"] == "%s.localhost:%d" % (BUCKET, proxy.port)
    assert r.path == "/%svh/a%%20b%%2Bc.txt" % P
    proxy.set("404", -1)
    rc, _, err = run(["--endpoint", "http://127.0.0.1:%d" % proxy.port, "--path-style",
                      "--retries", "0", "s3://%s/%svh" % (BUCKET, P), "head", "x"], env)
    assert proxy.requests[0].headers["host"] == "127.0.0.1:%d" % proxy.port
    assert proxy.requests[0].path == "/%s/%svh/x" % (BUCKET, P)
    # An address cannot take a bucket label: virtual-host falls back to path-style.
    proxy.set("404", -1)
    run(["--endpoint", "http://127.0.0.1:%d" % proxy.port, "--virtual-host",
         "--retries", "0", "s3://%s/%svh" % (BUCKET, P), "head", "x"], env)
    assert proxy.requests[0].path == "/%s/%svh/x" % (BUCKET, P)


def test_default_endpoint_is_regional_virtual_hosted(env, proxy):
    # Without endpoint=, requests go to https://BUCKET.s3.REGION.amazonaws.com.
    # An https_proxy on loopback receives the CONNECT, so the name is never
    # even resolved here, and refuses it.
    proxy.set("403", -1)
    e = dict(env, https_proxy=proxy.endpoint, AWS_REGION="eu-west-3")
    for v in ("no_proxy", "NO_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        e.pop(v, None)
    rc, _, err = run(["--retries", "0", "s3://%s" % BUCKET, "check"], e)
    assert rc == 1
    assert [(r.method, r.path) for r in proxy.requests] == [
        ("CONNECT", "%s.s3.eu-west-3.amazonaws.com:443" % BUCKET)]
    proxy.set("403", -1)
    run(["--retries", "0", "--region", "ap-south-1", "s3://%s" % BUCKET, "check"], e)
    assert proxy.requests[0].path == "%s.s3.ap-south-1.amazonaws.com:443" % BUCKET


# ---- secrets ----

def test_debug_output_has_no_secret(s3server, env):
    e = dict(env, AWS_SECRET_ACCESS_KEY="Sup3rS3cretValue", AWS_SESSION_TOKEN="TokTokSecretToken")
    rc, _, err = cli(s3server.endpoint, "s3://%s" % BUCKET, "check", env=e, opts=["-d"])
    assert rc == 1
    assert "> GET " in err and "< HTTP/1.1 403" in err
    assert "Authorization: REDACTED" in err
    assert "Sup3rS3cretValue" not in err and "TokTokSecretToken" not in err
    # A request that succeeds: the real secret signs it and appears nowhere.
    rc, out, err = cli(s3server.endpoint, "s3://%s" % BUCKET, "check", env=env, opts=["-d"])
    assert rc == 0 and "< HTTP/1.1 200" in err and "Authorization: REDACTED" in err
    assert env["AWS_SECRET_ACCESS_KEY"] == SECRET_KEY and SECRET_KEY not in err


# ---- https ----

@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    key, cert = str(d / "key.pem"), str(d / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    port = free_port()
    logf = open(str(d / "server.log"), "ab")
    proc = subprocess.Popen(["node", "--openssl-legacy-provider", SERVER_JS, "--port", str(port),
                             "--dir", str(d / "data"), "--bucket", BUCKET, "--tls-key", key,
                             "--tls-cert", cert], stdout=logf, stderr=logf,
                            start_new_session=True,
                            env=dict(os.environ,
                                     MFS_TEST_KEYPAIR="%s:%s" % (ACCESS_KEY, SECRET_KEY)))
    logf.close()
    try:
        wait_port(port, proc=proc)
        import boto3
        from botocore.config import Config
        c = boto3.client("s3", endpoint_url="https://127.0.0.1:%d" % port, verify=cert,
                         region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                         aws_secret_access_key=SECRET_KEY,
                         config=Config(s3={"addressing_style": "path"}))
        c.put_object(Bucket=BUCKET, Key="tls/hello.txt", Body=b"hello over tls\n")
        yield "https://127.0.0.1:%d" % port, cert
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("var", ["AWS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_https_with_ca_bundle(env, tls_server, var):
    endpoint, cert = tls_server
    e = dict(env)
    e.pop("AWS_CA_BUNDLE", None)
    e.pop("CURL_CA_BUNDLE", None)
    e[var] = cert
    assert ok(cli(endpoint, "s3://%s" % BUCKET, "check", env=e)) == b"ok\n"
    assert ok(cli(endpoint, "s3://%s/tls" % BUCKET, "get", "hello.txt", env=e)) == \
        b"hello over tls\n"
    assert ok(cli(endpoint, "s3://%s/tls" % BUCKET, "get", "hello.txt", "6", "4", env=e)) == \
        b"over"


def test_https_untrusted_certificate(env, tls_server):
    endpoint, _ = tls_server
    e = dict(env)
    e.pop("AWS_CA_BUNDLE", None)
    e.pop("CURL_CA_BUNDLE", None)
    rc, _, err = cli(endpoint, "s3://%s" % BUCKET, "check", env=e)
    assert rc == 1 and "certificate" in err.lower() and "AWS_CA_BUNDLE" in err
    rc, out, err = cli(endpoint, "s3://%s/tls" % BUCKET, "get", "hello.txt", env=e)
    assert rc == 1 and out == b"" and "certificate" in err.lower()


# ---- the local store behind the same CLI ----

def test_local_directory_source(tmp_path, env):
    root = tmp_path / "lake"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"0123456789")
    (root / "sub" / "b.txt").write_bytes(b"b")
    files, dirs = parse_list(ok(run([str(root), "list", ""], env)))
    assert list(files) == ["a.txt"] and files["a.txt"][0] == 10 and dirs == ["sub/"]
    assert ok(run([str(root), "get", "a.txt", "3", "4"], env)) == b"3456"
    assert ok(run([str(root), "check"], env)) == b"ok\n"
    rc, _, err = run([str(root), "head", "nope"], env)
    assert rc == 1 and "[ENOENT]" in err
