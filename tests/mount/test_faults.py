"""Network faults in volume (issue 6): a mount behind faultproxy.py, and
READS reads of random ranges of a bronze object from THREADS threads under
each fault mode, every one compared with the object's bytes.

- 503 SlowDown, 500, connection reset, truncated body, a response delayed
  beyond request_timeout: a random share of the requests is faulted; every
  read returns exactly the right bytes (transient faults are retried).
- the server stopped: the proxy refuses connections for random spells while
  the reads go on; a read returns the right bytes or EIO, never others.
- a permanent fault of each kind: EIO within a bound computed from the
  options, and the mount serves again once the fault is gone.

Reads use O_DIRECT, so each one reaches the daemon instead of the kernel's
page cache, and the object is large with max_prefetch=1M and block_cache=0,
so nearly every read is a ranged GET of its own (asserted); three modes run
again through a small block cache (a read loads its 1 MiB block). Short connect_timeout and
request_timeout keep it to seconds a mode.
"""
import errno
import os
import queue
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import BUCKET, Mount
from faultproxy import FaultProxy

READS = 1000
THREADS = 8
SIZE = 64 * 1024 * 1024 + 123  # large, so few reads fall in a read-ahead window
MAX_READ = 128 * 1024
CONNECT_TIMEOUT = 1
REQUEST_TIMEOUT = 1
RETRIES = 6  # a read fails only if 7 attempts in a row are faulted (p = 1e-7)
PERMANENT_RETRIES = 2
# The longest a read may take when every attempt fails: each attempt waits at
# most its connect and no-progress timeouts (curl checks the latter once a
# second), the backoffs are at most 0.5, 1 s (SlowDown base), plus slack for
# the ASan build and the kernel retrying the read once itself.
EIO_BOUND = 2 * ((PERMANENT_RETRIES + 1) * (CONNECT_TIMEOUT + REQUEST_TIMEOUT + 1) + 1.5) + 2

FRACTION_MODES = [("503", 0.1), ("500", 0.1), ("reset", 0.1), ("truncate", 0.1),
                  ("delay", 0.03)]

DATA = random.Random(606).randbytes(SIZE)


def proxied(s3server, tmp_path_factory, retries, block_cache="0"):
    """(proxy, mount) for one object behind the proxy; both closed at the end.
    block_cache=0: a random read fetches exactly what it asks for."""
    work = str(tmp_path_factory.mktemp("faults"))
    proxy = FaultProxy(s3server.port).start()
    opts = ("endpoint=%s,path_style,metadata_ttl=3600,connect_timeout=%d,request_timeout=%d,"
            "retries=%d,max_prefetch=1M,block_cache=%s" % (
                proxy.endpoint, CONNECT_TIMEOUT, REQUEST_TIMEOUT, retries, block_cache))
    m = Mount("s3://%s/faults" % BUCKET, work, opts=opts,
              expect_stderr=("bronze/obj.bin", "bronze/(root)", "s3:"))
    try:
        m.start()
        yield proxy, m
        m.stop()
    finally:
        if m.proc is not None:
            m.stop(check=False)
        proxy.close()


@pytest.fixture(scope="module")
def obj(s3server):
    s3server.put("faults/obj.bin", DATA)
    yield
    s3server.delete("faults/obj.bin")


@pytest.fixture(scope="module")
def flaky(s3server, tmp_path_factory, obj):
    """Many retries: a transient fault never reaches the reader."""
    yield from proxied(s3server, tmp_path_factory, RETRIES)


@pytest.fixture(scope="module")
def flaky_blocks(s3server, tmp_path_factory, obj):
    """Many retries, and random reads through a small 1 MiB block cache."""
    yield from proxied(s3server, tmp_path_factory, RETRIES, block_cache="8M")


@pytest.fixture(scope="module")
def brittle(s3server, tmp_path_factory, obj):
    """Few retries: a permanent fault is EIO soon."""
    yield from proxied(s3server, tmp_path_factory, PERMANENT_RETRIES)


def ranges(seed, n=READS):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        off = rng.randrange(SIZE)
        out.append((off, rng.randrange(1, MAX_READ + 1)))
    return out


class Readers:
    """@n descriptors of the object opened with O_DIRECT (so each read reaches
    the daemon, not the page cache), opened before any fault is injected."""

    def __init__(self, m, n=THREADS):
        self.n = n
        self.free = queue.SimpleQueue()
        self.fds = [os.open(m.path("bronze", "obj.bin"), os.O_RDONLY | os.O_DIRECT)
                    for _ in range(n)]
        for fd in self.fds:
            self.free.put(fd)

    def run(self, todo):
        """pread every (off, len) of @todo on the descriptors in parallel: a
        list of (off, len, bytes or OSError, seconds), in order."""
        def one(r):
            off, ln = r
            fd = self.free.get()
            t0 = time.monotonic()
            try:
                got = os.pread(fd, ln, off)
            except OSError as e:
                got = e
            took = time.monotonic() - t0
            self.free.put(fd)
            return off, ln, got, took

        with ThreadPoolExecutor(self.n) as ex:
            return list(ex.map(one, todo))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for fd in self.fds:
            os.close(fd)
        return False


def read_all(m, todo, threads=THREADS):
    with Readers(m, threads) as r:
        return r.run(todo)


def wrong(results):
    return [(off, ln) for off, ln, got, _ in results
            if isinstance(got, bytes) and got != DATA[off:off + ln]]


def failed(results):
    return [(off, ln, got) for off, ln, got, _ in results if isinstance(got, OSError)]


@pytest.mark.parametrize("mode,fraction", FRACTION_MODES)
def test_random_reads_under_faults_are_exact(flaky, mode, fraction):
    proxy, m = flaky
    proxy.set(mode, fraction=fraction, seed=len(mode), delay=REQUEST_TIMEOUT + 2)
    t0 = time.monotonic()
    res = read_all(m, ranges(len(mode) * 1000 + int(fraction * 100)))
    took = time.monotonic() - t0
    gets = sum(1 for r in proxy.requests if r.method == "GET")
    faulted = proxy.faulted()
    proxy.set("none")
    assert len(res) >= 1000
    assert wrong(res) == [], "%s: %d reads returned wrong bytes" % (mode, len(wrong(res)))
    assert failed(res) == [], "%s: transient faults not absorbed: %r" % (mode, failed(res)[:3])
    assert all(len(got) == min(ln, SIZE - off) for off, ln, got, _ in res)
    # the reads went to the network, and the proxy faulted its share of them
    assert gets >= 0.8 * len(res), (mode, gets)
    assert faulted >= gets * fraction / 2, (mode, gets, faulted)
    print("%s: %d reads, %d GETs, %d faulted, %.1f s" % (mode, len(res), gets, faulted, took))


@pytest.mark.parametrize("mode,fraction", [("500", 0.1), ("reset", 0.1), ("truncate", 0.1)])
def test_random_reads_through_the_block_cache_under_faults(flaky_blocks, mode, fraction):
    """The same through the block cache: each read loads its 1 MiB block
    (8 of them kept, so most reads load one), a faulted load is retried."""
    proxy, m = flaky_blocks
    proxy.set(mode, fraction=fraction, seed=7)
    res = read_all(m, ranges(len(mode) * 77))
    gets = sum(1 for r in proxy.requests if r.method == "GET")
    faulted = proxy.faulted()
    proxy.set("none")
    assert len(res) >= 1000
    assert wrong(res) == [] and failed(res) == [], (mode, len(wrong(res)), failed(res)[:3])
    assert gets >= len(res) / 2 and faulted >= gets * fraction / 2, (mode, gets, faulted)


def test_server_stopped_in_spells(flaky):
    """The proxy refuses connections for random spells during the reads: a
    read answers the right bytes or EIO, within the bound, never others."""
    proxy, m = flaky
    stop = threading.Event()

    spells = []

    def flap():
        rng = random.Random(99)
        while not stop.is_set():
            spells.append(1)
            proxy.down()
            stop.wait(rng.uniform(0.05, 0.6))
            proxy.up()
            stop.wait(rng.uniform(0.05, 0.6))

    t = threading.Thread(target=flap, daemon=True)
    readers = Readers(m)
    t.start()
    try:
        res = readers.run(ranges(4242))
    finally:
        readers.__exit__()
        stop.set()
        t.join()
        proxy.up()
    assert len(res) >= 1000
    assert wrong(res) == []
    errs = failed(res)
    assert all(e.errno == errno.EIO for _, _, e in errs), errs[:3]
    slow = [(off, ln, s) for off, ln, got, s in res if isinstance(got, OSError) and s > EIO_BOUND]
    assert not slow, slow[:3]
    ok = len(res) - len(errs)
    assert ok > 0, "no read got through between the spells"
    assert len(spells) >= 5, "the server was stopped only %d times" % len(spells)
    print("server stopped in spells: %d reads, %d ok, %d EIO" % (len(res), ok, len(errs)))
    # back up: everything is served again
    res = read_all(m, ranges(4243, 200))
    assert wrong(res) == [] and failed(res) == []


@pytest.mark.parametrize("mode", ["503", "500", "reset", "truncate", "delay", "stopped"])
def test_permanent_fault_is_eio_in_bounded_time_then_recovers(brittle, mode):
    proxy, m = brittle
    with Readers(m, 4) as readers:
        if mode == "stopped":
            proxy.down()
        else:
            proxy.set(mode, -1, delay=REQUEST_TIMEOUT + 2)
        try:
            res = readers.run(ranges(len(mode), 4))
        finally:
            proxy.up()
            proxy.set("none")
    for off, ln, got, took in res:
        assert isinstance(got, OSError) and got.errno == errno.EIO, (mode, off, ln, got)
        assert took < EIO_BOUND, "%s: EIO after %.1f s (bound %.1f s)" % (mode, took, EIO_BOUND)
    errors = open(m.path(".medallion", "errors")).read()
    assert "bronze/obj.bin" in errors
    # the fault is gone: the same reads succeed, exactly
    res = read_all(m, ranges(len(mode), 50), threads=4)
    assert wrong(res) == [] and failed(res) == [], mode
