"""Fixtures for the mount tests: a loopback S3 server that verifies SigV4
(@20minutes/s3rver), a boto3 client to lay out objects, and a mounter that
starts medallionfs in the foreground and always unmounts it again.

Everything here talks to 127.0.0.1 only. The instance-metadata endpoint is
disabled for this process and every child it starts.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("MFS_BUILD_DIR", os.path.join(ROOT, "build"))
MEDALLIONFS = os.path.join(BUILD, "fs", "medallionfs")
STORECLI = os.path.join(BUILD, "tests", "unit", "mfs-storecli")
SERVER_JS = os.path.join(ROOT, "tests", "s3server", "server.js")
BUCKET = "lake"
# A key pair of the test session's own (the server also knows S3RVER:S3RVER),
# so a test can look for the secret in logs without matching the key id.
ACCESS_KEY = "AKIAMEDALLIONTEST"
SECRET_KEY = "mfsSecret" + os.urandom(12).hex()

# Never let anything in the test process (boto3 included) reach 169.254.169.254.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
for _v in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_SHARED_CREDENTIALS_FILE",
           "AWS_CONFIG_FILE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ.pop(_v, None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with %d" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("port %d did not open" % port)


class S3Server:
    """One s3rver process with its own data directory and bucket "lake"."""

    def __init__(self, workdir, port=None):
        self.dir = os.path.join(workdir, "s3data")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.proc = None
        self.log = os.path.join(workdir, "s3server.log")
        self._client = None
        self._client_lock = threading.Lock()

    def start(self):
        logf = open(self.log, "ab")
        env = dict(os.environ, MFS_TEST_KEYPAIR="%s:%s" % (ACCESS_KEY, SECRET_KEY))
        self.proc = subprocess.Popen(
            ["node", "--openssl-legacy-provider", SERVER_JS, "--port", str(self.port),
             "--dir", self.dir, "--bucket", BUCKET],
            stdout=logf, stderr=logf, start_new_session=True, env=env)
        logf.close()
        wait_port(self.port, proc=self.proc)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def client(self):
        with self._client_lock:  # botocore's client creation is not thread-safe
            return self._make_client()

    def _make_client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config
            self._client = boto3.client(
                "s3", endpoint_url=self.endpoint, region_name="us-east-1",
                aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))
        return self._client

    def put(self, key, data):
        if isinstance(data, str):
            data = data.encode()
        self.client.put_object(Bucket=BUCKET, Key=key, Body=data)

    def delete(self, key):
        self.client.delete_object(Bucket=BUCKET, Key=key)

    def clear(self):
        """Delete every object of the bucket (tests share one server)."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=BUCKET):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            for i in range(0, len(keys), 1000):
                self.client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys[i:i + 1000]})


@pytest.fixture(scope="session")
def s3server(tmp_path_factory):
    srv = S3Server(str(tmp_path_factory.mktemp("s3")))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def private_s3server(tmp_path):
    """A server of the test's own, for tests that stop and restart it."""
    srv = S3Server(str(tmp_path))
    srv.start()
    yield srv
    srv.stop()


def base_env(home):
    env = dict(os.environ)
    env.update({
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOME": home,
    })
    for v in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        env.pop(v, None)
    return env


def s3_opts(server, extra=""):
    opts = "endpoint=%s,path_style,metadata_ttl=1,connect_timeout=2,request_timeout=5,retries=2" % (
        server.endpoint)
    return opts + ("," + extra if extra else "")


class Mount:
    """medallionfs SOURCE MP -f -o OPTS, unmounted and reaped on exit."""

    def __init__(self, source, workdir, opts="", env=None, args=(), expect_stderr=()):
        self.source = source
        self.mp = tempfile.mkdtemp(prefix="mnt-", dir=workdir)
        self.opts = opts
        self.env = env if env is not None else base_env(workdir)
        self.args = list(args)
        self.stderr_path = os.path.join(workdir, "medallionfs-%d.stderr" % id(self))
        self.cache_dir = os.path.join(workdir, "cache-%d" % id(self))
        self.expect_stderr = expect_stderr
        self.proc = None

    def cmd(self):
        c = [MEDALLIONFS, self.source, self.mp, "-f"] + self.args
        opts = self.opts
        if "cache_dir=" not in opts:
            # every mount gets a cache of its own unless a test shares one
            opts = (opts + "," if opts else "") + "cache_dir=" + self.cache_dir
        c += ["-o", opts]
        return c

    def start(self, timeout=15.0):
        err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.cmd(), env=self.env, stdout=err, stderr=err,
                                     stdin=subprocess.DEVNULL)
        err.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("medallionfs exited with %d before mounting:\n%s" % (
                    self.proc.returncode, self.stderr()))
            if os.path.ismount(self.mp):
                return self
            time.sleep(0.02)
        self.stop(check=False)
        raise TimeoutError("mount did not appear:\n" + self.stderr())

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def path(self, *parts):
        return os.path.join(self.mp, *parts)

    def stop(self, check=True):
        if self.proc is None:
            return
        if os.path.ismount(self.mp):
            subprocess.run(["fusermount3", "-u", "-z", self.mp], stderr=subprocess.DEVNULL)
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # by pid, never by name
            self.proc.wait()
            rc = None
        self.proc = None
        try:
            os.rmdir(self.mp)
        except OSError:
            pass
        if check:
            assert rc == 0, "medallionfs exited with %r:\n%s" % (rc, self.stderr())
            unexpected = [l for l in self.stderr().splitlines()
                          if ("warning" in l or "error" in l)
                          and not any(e in l for e in self.expect_stderr)]
            assert not unexpected, "unexpected daemon output:\n" + "\n".join(unexpected)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        # Never leave a mount behind, and only check the exit when the test passed.
        self.stop(check=exc_type is None)
        return False


@pytest.fixture
def mounter(tmp_path):
    """mounter(source, opts=..., ...) -> Mount (use as a context manager)."""
    made = []

    def make(source, opts="", **kw):
        m = Mount(source, str(tmp_path), opts=opts, **kw)
        made.append(m)
        return m

    yield make
    for m in made:
        if m.proc is not None:
            m.stop(check=False)


DUCKDB_JS = os.path.join(ROOT, "tests", "s3server", "duckdb-query.js")


def duckdb(sql):
    """Run @sql in DuckDB (npm @duckdb/node-api): {"columns": [...], "rows": [...]}."""
    import json
    p = subprocess.run(["node", DUCKDB_JS, sql], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def wait_for(cond, timeout=30):
    """Poll @cond until it holds; fail after @timeout seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def stats(mount):
    """.medallion/stats of a mount, as a dict."""
    import json
    with open(mount.path(".medallion", "stats")) as f:
        return json.load(f)


def run_daemon(args, env, timeout=30):
    """Run medallionfs to completion (mount-time failures), returning (rc, stderr)."""
    proc = subprocess.Popen([MEDALLIONFS] + args, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # it mounted although the test expected a refusal: never leave that behind
        if len(args) > 1 and os.path.ismount(args[1]):
            subprocess.run(["fusermount3", "-u", "-z", args[1]])
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, err.decode(errors="replace")
