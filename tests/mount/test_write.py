"""bronze/ writes with -o writable: new files written sequentially (one PutObject
below a part, a multipart upload above), overwrite with O_TRUNC, unlink,
mkdir/rmdir, rename → EXDEV, the errno of what is not supported, failed and
killed uploads that leave no object, and silver/ seeing a written file. Against
the loopback S3 server (SigV4 checked) and a local directory."""
import errno
import os
import random
import signal
import subprocess
import threading
import time

import pytest

from conftest import BUCKET, Mount, stats, wait_for
from lakes import make_lake


@pytest.fixture(params=["s3", "local"])
def lake(request, s3server, tmp_path):
    return make_lake(request.param, s3server, tmp_path)


def rand_bytes(n, seed):
    return random.Random(seed).randbytes(n)


def wopts(lake, extra=""):
    return lake.opts("writable" + ("," + extra if extra else ""))


def write_file(path, data, chunk=1 << 20):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for i in range(0, len(data), chunk):
            os.write(fd, data[i:i + chunk])
    finally:
        os.close(fd)


def test_cp_small_empty_and_big_files(lake, mounter, tmp_path):
    small = rand_bytes(1024, 1)
    big = rand_bytes(100 * 1024 * 1024 + 12345, 2)  # 13 parts of 8 MiB, the last one short
    for name, data in (("small.bin", small), ("empty.bin", b""), ("big.bin", big)):
        (tmp_path / name).write_bytes(data)
    with mounter(lake.source, wopts(lake)) as m:
        st = os.stat(m.path("bronze"))
        assert st.st_mode & 0o777 == 0o755
        assert not os.statvfs(m.mp).f_flag & os.ST_RDONLY
        os.mkdir(m.path("bronze", "in"))
        for name in ("small.bin", "empty.bin"):
            subprocess.run(["cp", str(tmp_path / name), m.path("bronze", "in", name)], check=True)
        t0 = time.monotonic()
        subprocess.run(["cp", str(tmp_path / "big.bin"), m.path("bronze", "in", "big.bin")],
                       check=True)
        secs = time.monotonic() - t0
        print("cp of %d MiB into %s bronze/: %.2f s, %.0f MB/s" % (
            len(big) >> 20, lake.kind, secs, len(big) / secs / 1e6))
        # The objects, byte for byte, as the store has them.
        assert lake.get("in/small.bin") == small
        # an empty file is put when its last descriptor is released (asynchronous to close)
        wait_for(lambda: lake.get("in/empty.bin") == b"", 5)
        assert lake.get("in/big.bin") == big
        # ... and through the mount.
        assert sorted(os.listdir(m.path("bronze", "in"))) == ["big.bin", "empty.bin", "small.bin"]
        assert os.stat(m.path("bronze", "in", "big.bin")).st_size == len(big)
        assert os.stat(m.path("bronze", "in", "empty.bin")).st_size == 0
        with open(m.path("bronze", "in", "small.bin"), "rb") as f:
            assert f.read() == small
        s = stats(m)
        assert s["uploads"] == 3 and s["bytes_uploaded"] == len(big) + 1024
        assert s["upload_failures"] == 0
    if lake.kind == "local":
        # no temporary file left behind
        assert lake.keys() == ["in/big.bin", "in/empty.bin", "in/small.bin"]


def test_shell_redirection_and_overwrite_with_o_trunc(lake, mounter):
    lake.put("a.txt", b"the old content, longer than the new\n")
    with mounter(lake.source, wopts(lake)) as m:
        p = m.path("bronze", "a.txt")
        assert open(p, "rb").read().startswith(b"the old")
        # the shell closes its own descriptor after dup2: a flush before the writes
        subprocess.run("echo new > %s && echo hi > %s" % (p, m.path("bronze", "b.txt")),
                       shell=True, check=True)
        assert lake.get("a.txt") == b"new\n"
        assert lake.get("b.txt") == b"hi\n"
        assert open(p, "rb").read() == b"new\n"
        assert os.stat(p).st_size == 4
        with open(p, "wb") as f:  # O_WRONLY|O_CREAT|O_TRUNC on an existing object
            f.write(b"third\n")
        assert lake.get("a.txt") == b"third\n"
        assert open(p, "rb").read() == b"third\n"
        with pytest.raises(FileExistsError):
            os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL)


def test_fsync_makes_the_object_visible(lake, mounter):
    with mounter(lake.source, wopts(lake)) as m:
        fd = os.open(m.path("bronze", "f.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            os.write(fd, b"synced\n")
            assert lake.get("f.txt") is None  # not before close or fsync
            os.fsync(fd)
            assert lake.get("f.txt") == b"synced\n"
        finally:
            os.close(fd)
        assert lake.get("f.txt") == b"synced\n"


def test_unlink(lake, mounter):
    lake.put("dir/gone.txt", b"x")
    lake.put("dir/stays.txt", b"y")
    with mounter(lake.source, wopts(lake)) as m:
        os.unlink(m.path("bronze", "dir", "gone.txt"))
        assert lake.get("dir/gone.txt") is None
        assert os.listdir(m.path("bronze", "dir")) == ["stays.txt"]
        with pytest.raises(FileNotFoundError):
            os.stat(m.path("bronze", "dir", "gone.txt"))
        with pytest.raises(FileNotFoundError):
            os.unlink(m.path("bronze", "dir", "gone.txt"))
        with pytest.raises(IsADirectoryError):
            os.unlink(m.path("bronze", "dir"))
        assert stats(m)["deletes"] == 1
        # unlinked while being written: the upload is dropped, nothing appears
        fd = os.open(m.path("bronze", "dir", "w.bin"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.write(fd, b"x" * 100)
        os.unlink(m.path("bronze", "dir", "w.bin"))
        os.close(fd)
        time.sleep(0.2)
        assert lake.get("dir/w.bin") is None
        assert os.listdir(m.path("bronze", "dir")) == ["stays.txt"]


def test_mkdir_rmdir(lake, mounter):
    lake.put("full/x.txt", b"x")
    lake.mkdir("marker/")  # an empty "directory" (S3: a zero-byte marker object)
    with mounter(lake.source, wopts(lake)) as m:
        b = m.path("bronze")
        os.mkdir(os.path.join(b, "new"))
        os.mkdir(os.path.join(b, "new", "deeper"))
        assert "new" in os.listdir(b)
        assert os.listdir(os.path.join(b, "new")) == ["deeper"]
        with pytest.raises(FileExistsError):
            os.mkdir(os.path.join(b, "new"))
        with pytest.raises(FileExistsError):
            os.mkdir(os.path.join(b, "full"))
        with pytest.raises(OSError) as e:
            os.rmdir(os.path.join(b, "full"))
        assert e.value.errno == errno.ENOTEMPTY
        with pytest.raises(OSError) as e:
            os.rmdir(os.path.join(b, "new"))
        assert e.value.errno == errno.ENOTEMPTY
        write_file(os.path.join(b, "new", "deeper", "f.txt"), b"in a new directory\n")
        assert lake.get("new/deeper/f.txt") == b"in a new directory\n"
        with pytest.raises(OSError) as e:
            os.rmdir(os.path.join(b, "new", "deeper"))
        assert e.value.errno == errno.ENOTEMPTY
        os.unlink(os.path.join(b, "new", "deeper", "f.txt"))
        os.rmdir(os.path.join(b, "new", "deeper"))
        os.rmdir(os.path.join(b, "new"))
        os.rmdir(os.path.join(b, "marker"))
        assert sorted(os.listdir(b)) == ["full"]
        with pytest.raises(FileNotFoundError):
            os.rmdir(os.path.join(b, "new"))
    assert lake.keys() == ["full/x.txt"]


def test_mv_copies_and_deletes(lake, mounter, tmp_path):
    data = rand_bytes(3000, 5)
    lake.put("from/a.bin", data)
    with mounter(lake.source, wopts(lake)) as m:
        src, dst = m.path("bronze", "from", "a.bin"), m.path("bronze", "to", "b.bin")
        with pytest.raises(OSError) as e:
            os.rename(src, m.path("bronze", "from", "c.bin"))
        assert e.value.errno == errno.EXDEV
        os.mkdir(m.path("bronze", "to"))
        p = subprocess.run(["mv", src, dst], capture_output=True, text=True)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        assert lake.get("from/a.bin") is None
        assert lake.get("to/b.bin") == data
        # out of the mount and back in
        subprocess.run(["mv", dst, str(tmp_path / "out.bin")], check=True)
        assert (tmp_path / "out.bin").read_bytes() == data and lake.get("to/b.bin") is None
        subprocess.run(["mv", str(tmp_path / "out.bin"), m.path("bronze", "back.bin")], check=True)
        assert lake.get("back.bin") == data


def test_random_writes_and_appends_refused(lake, mounter):
    lake.put("exists.txt", b"already here\n")
    with mounter(lake.source, wopts(lake)) as m:
        p = m.path("bronze", "exists.txt")
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND,
                      os.O_WRONLY | os.O_APPEND | os.O_CREAT):
            with pytest.raises(OSError) as e:
                os.open(p, flags)
            assert e.value.errno == errno.EOPNOTSUPP, flags
        r = subprocess.run("echo more >> %s" % p, shell=True, capture_output=True, text=True)
        assert r.returncode != 0 and "not supported" in r.stderr
        with pytest.raises(OSError) as e:
            os.truncate(p, 3)
        assert e.value.errno == errno.EOPNOTSUPP
        assert lake.get("exists.txt") == b"already here\n"

        q = m.path("bronze", "seq.bin")
        fd = os.open(q, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            os.write(fd, b"0123456789")
            for off in (0, 5, 11, 1 << 20):
                with pytest.raises(OSError) as e:
                    os.pwrite(fd, b"x", off)
                assert e.value.errno == errno.EOPNOTSUPP, off
            os.pwrite(fd, b"abc", 10)  # at the end: sequential
            with pytest.raises(OSError) as e:
                os.pread(fd, 3, 0)  # write-only descriptor: the kernel says EBADF
            assert e.value.errno == errno.EBADF
            os.ftruncate(fd, 13)  # to the size written: nothing to do
            os.ftruncate(fd, 16)  # beyond: zeros appended (sparse copies)
            with pytest.raises(OSError) as e:
                os.ftruncate(fd, 4)
            assert e.value.errno == errno.EOPNOTSUPP
        finally:
            os.close(fd)
        assert lake.get("seq.bin") == b"0123456789abc\0\0\0"
        fd = os.open(m.path("bronze", "rw.bin"), os.O_RDWR | os.O_CREAT | os.O_TRUNC)
        try:
            os.write(fd, b"abc")
            with pytest.raises(OSError) as e:
                os.pread(fd, 3, 0)
            assert e.value.errno == errno.EOPNOTSUPP
        finally:
            os.close(fd)
        assert lake.get("rw.bin") == b"abc"


def test_other_layers_and_plain_mounts_stay_read_only(lake, mounter):
    lake.put("sales/a.csv", b"id,amount\n1,2\n")
    with mounter(lake.source, wopts(lake)) as m:
        for path in (m.path("silver", "sales", "new.csv"), m.path("gold", "x.csv"),
                     m.path(".medallion", "x"), m.path("silver", "sales", "a.csv")):
            with pytest.raises(OSError) as e:
                open(path, "wb")
            assert e.value.errno in (errno.EROFS, errno.EACCES), path
        with pytest.raises(OSError) as e:
            os.mkdir(m.path("silver", "d"))
        assert e.value.errno in (errno.EROFS, errno.EACCES)
        with pytest.raises(OSError) as e:
            os.unlink(m.path("silver", "sales", "a.csv"))
        assert e.value.errno in (errno.EROFS, errno.EACCES)
        if os.getuid() == 0:  # root passes the mode check: the answer is the mount's own
            with pytest.raises(OSError) as e:
                open(m.path("silver", "sales", "b.csv"), "wb")
            assert e.value.errno == errno.EROFS
    # rw (what mount(8) passes to every helper) is not writable
    with mounter(lake.source, lake.opts("rw")) as m:
        with pytest.raises(OSError) as e:
            open(m.path("bronze", "n.txt"), "wb")
        assert e.value.errno == errno.EROFS
        assert stat_mode(m.path("bronze", "sales", "a.csv")) == 0o444
    # ro wins over writable
    with mounter(lake.source, lake.opts("writable,ro")) as m:
        with pytest.raises(OSError) as e:
            open(m.path("bronze", "n.txt"), "wb")
        assert e.value.errno == errno.EROFS
    assert lake.get("n.txt") is None


def stat_mode(p):
    return os.stat(p).st_mode & 0o777


def test_silver_sees_a_new_bronze_file(lake, mounter):
    lake.put("sales/a.csv", b"id,amount\n1,2\n")
    with mounter(lake.source, wopts(lake, "metadata_ttl=30")) as m:
        assert os.listdir(m.path("silver", "sales")) == ["a.csv"]  # listing cached for 30 s
        write_file(m.path("bronze", "sales", "b.csv"), b"id,amount\n3,4\n")
        os.mkdir(m.path("bronze", "more"))
        write_file(m.path("bronze", "more", "c.tsv"), b"x\ty\n5\t6\n")
        # the written prefix is listed again at once, not after metadata_ttl
        assert sorted(os.listdir(m.path("silver", "sales"))) == ["a.csv", "b.csv"]
        assert "more" in os.listdir(m.path("silver"))
        assert open(m.path("silver", "sales", "b.csv")).read() == "id,amount\n3,4\n"
        assert open(m.path("silver", "more", "c.csv")).read() == "x,y\n5,6\n"


# ---- failures (S3) ----

def proxied(server, tmp_path, prefix, **kw):
    from faultproxy import FaultProxy
    proxy = FaultProxy(server.port).start()
    opts = ("endpoint=%s,path_style,metadata_ttl=1,connect_timeout=2,request_timeout=5,retries=1,"
            "writable" % proxy.endpoint)
    return proxy, Mount("s3://%s/%s" % (BUCKET, prefix), str(tmp_path), opts=opts, **kw)



def test_failed_multipart_upload_is_aborted_never_completed(s3server, tmp_path):
    proxy, m = proxied(s3server, tmp_path, "fail-mp", expect_stderr=("bronze/big.bin",))
    try:
        with m:
            p = m.path("bronze", "big.bin")
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            chunk = rand_bytes(1 << 20, 7)
            errs = []
            for i in range(9):
                os.write(fd, chunk)
            # part 1 is on its way; the next request (part 2) is refused
            wait_for(lambda: any(r.method == "PUT" and "partNumber=1" in r.path
                                 for r in proxy.requests))
            proxy.set("403", 1)
            try:
                for i in range(24):
                    os.write(fd, chunk)
            except OSError as e:
                errs.append(e.errno)
            with pytest.raises(OSError) as e:
                os.close(fd)
            assert e.value.errno == errno.EIO
            assert set(errs) <= {errno.EIO}
            with pytest.raises(s3server.client.exceptions.ClientError):
                s3server.client.head_object(Bucket=BUCKET, Key="fail-mp/big.bin")
            methods = [(r.method, r.path.split("?", 1)[-1][:20]) for r in proxy.requests]
            assert not any(meth == "POST" and q.startswith("uploadId") for meth, q in methods), \
                "the upload was completed: %r" % methods
            assert any(meth == "DELETE" and q.startswith("uploadId") for meth, q in methods)
            errors = open(m.path(".medallion", "errors")).read()
            assert "bronze/big.bin" in errors
            assert stats(m)["upload_failures"] == 1
            with pytest.raises(FileNotFoundError):
                os.stat(p)
        log = m.stderr()
        assert "AbortMultipartUpload attempted" in log, log
        assert "MethodNotAllowed" in log, log  # what the loopback server answers to it
        assert "AccessDenied" in log, log
    finally:
        proxy.close()


def test_transient_faults_during_an_upload_are_retried(s3server, tmp_path):
    proxy, m = proxied(s3server, tmp_path, "flaky-up")
    data = rand_bytes(20 * 1024 * 1024 + 5, 11)
    try:
        with m:
            p = m.path("bronze", "f.bin")
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.write(fd, data[:9 << 20])
            wait_for(lambda: any("partNumber=1" in r.path for r in proxy.requests))
            proxy.set("503", 1)  # part 2 answered SlowDown once, then sent again
            os.write(fd, data[9 << 20:])
            os.close(fd)
            assert any(r.faulted for r in proxy.requests)
            proxy.set("none")
            assert s3server.client.get_object(
                Bucket=BUCKET, Key="flaky-up/f.bin")["Body"].read() == data
            assert stats(m)["upload_failures"] == 0
    finally:
        proxy.close()


def test_failed_small_upload_reports_eio_at_close(s3server, tmp_path):
    proxy, m = proxied(s3server, tmp_path, "fail-small", expect_stderr=("bronze/s.txt",))
    try:
        with m:
            fd = os.open(m.path("bronze", "s.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.write(fd, b"small\n")
            proxy.set("403", -1)
            with pytest.raises(OSError) as e:
                os.close(fd)
            assert e.value.errno == errno.EIO
            proxy.set("none")
            with pytest.raises(s3server.client.exceptions.ClientError):
                s3server.client.head_object(Bucket=BUCKET, Key="fail-small/s.txt")
    finally:
        proxy.close()


def test_server_gone_mid_upload(private_s3server, tmp_path):
    srv = private_s3server
    m = Mount("s3://%s/gone" % BUCKET, str(tmp_path),
              opts="endpoint=%s,path_style,connect_timeout=1,request_timeout=2,retries=1,"
                   "writable" % srv.endpoint, expect_stderr=("bronze/x.bin",))
    with m:
        fd = os.open(m.path("bronze", "x.bin"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        chunk = rand_bytes(1 << 20, 9)
        for i in range(10):
            os.write(fd, chunk)
        srv.stop()
        with pytest.raises(OSError) as e:
            for i in range(30):
                os.write(fd, chunk)
            fd, last = -1, fd
            os.close(last)
        assert e.value.errno == errno.EIO
        if fd >= 0:
            with pytest.raises(OSError) as e:
                os.close(fd)
            assert e.value.errno == errno.EIO
        srv.start()
        with pytest.raises(srv.client.exceptions.ClientError):
            srv.client.head_object(Bucket=BUCKET, Key="gone/x.bin")
    assert "AbortMultipartUpload attempted" in m.stderr()


def written(pid):
    """Bytes process @pid has written so far."""
    try:
        with open("/proc/%d/io" % pid) as f:
            return next(int(l.split()[1]) for l in f if l.startswith("wchar:"))
    except (OSError, StopIteration):
        return 0


def kill_mid_write(m, source, count_mib, after_mib):
    """dd COUNT MiB from SOURCE into bronze/k.bin of @m (started); SIGKILL the daemon
    once AFTER MiB are written, then unmount."""
    m.start()
    try:
        writer = subprocess.Popen(["dd", "if=" + source, "of=" + m.path("bronze", "k.bin"),
                                   "bs=1M", "count=%d" % count_mib, "status=none"],
                                  stderr=subprocess.DEVNULL)
        # wait until parts are on their way, then kill the daemon in the middle
        wait_for(lambda: written(writer.pid) >= after_mib << 20 or writer.poll() is not None)
        assert writer.poll() is None, "the write finished before the kill"
        m.proc.send_signal(signal.SIGKILL)
        m.proc.wait(10)
        writer.wait(30)
        assert writer.returncode != 0
    finally:
        subprocess.run(["fusermount3", "-u", "-z", m.mp])
        if m.proc.poll() is None:
            m.proc.kill()
        m.proc.wait()
        m.proc = None


def test_kill_during_upload_leaves_no_object(s3server, tmp_path):
    kill_mid_write(Mount("s3://%s/killed" % BUCKET, str(tmp_path),
                         opts="endpoint=%s,path_style,writable" % s3server.endpoint),
                   "/dev/urandom", 200, 40)
    with pytest.raises(s3server.client.exceptions.ClientError):
        s3server.client.head_object(Bucket=BUCKET, Key="killed/k.bin")


def test_kill_during_local_write_leaves_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    kill_mid_write(Mount(str(src), str(tmp_path), opts="writable"), "/dev/zero", 2000, 20)
    assert os.listdir(src) == []  # the unnamed temporary file went with the daemon


def test_concurrent_writers(lake, mounter):
    files = {"c/%d.bin" % i: rand_bytes(9 * 1024 * 1024 + i, 100 + i) for i in range(4)}
    with mounter(lake.source, wopts(lake)) as m:
        os.mkdir(m.path("bronze", "c"))
        ts = [threading.Thread(target=write_file, args=(m.path("bronze", *k.split("/")), v))
              for k, v in files.items()]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    for k, v in files.items():
        assert lake.get(k) == v, k
