"""Mount-time checks, options, daemon mode, signals, network failures and
secrets: what happens around the reads."""
import errno
import os
import random
import signal
import subprocess
import threading
import time

import pytest

from conftest import (ACCESS_KEY, BUCKET, MEDALLIONFS, SECRET_KEY, Mount, base_env, run_daemon,
                      s3_opts)


def one_line(stderr):
    lines = [l for l in stderr.splitlines() if l.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_help_and_version():
    p = subprocess.run([MEDALLIONFS, "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    for opt in ["endpoint=", "region=", "profile=", "path_style", "virtual_host", "anonymous",
                "metadata_ttl=", "connect_timeout=", "request_timeout=", "retries=", "uid=",
                "gid=", "allow_other", "max_prefetch=", "writable", "publish"]:
        assert opt in p.stdout, opt
    p = subprocess.run([MEDALLIONFS, "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("medallionfs ")


@pytest.mark.parametrize("opt,word", [("publish=x/y", "publish"),
                                      ("cache_size=1k", "cache_size"),
                                      ("max_prefetch=12x", "max_prefetch"),
                                      ("bogus_option", "bogus_option"),
                                      ("metadata_ttl=abc", "metadata_ttl"),
                                      ("retries=-1", "retries")])
def test_unimplemented_and_bad_options_refused(tmp_path, opt, word):
    (tmp_path / "src").mkdir()
    (tmp_path / "mp").mkdir()
    rc, err = run_daemon([str(tmp_path / "src"), str(tmp_path / "mp"), "-f", "-o", opt],
                         base_env(str(tmp_path)))
    assert rc == 2
    assert word in one_line(err)
    assert not os.path.ismount(tmp_path / "mp")


def test_missing_pipeline_file_refused(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "mp").mkdir()
    rc, err = run_daemon([str(tmp_path / "src"), str(tmp_path / "mp"), "-f", "-o",
                          "pipeline=%s" % (tmp_path / "nope.ini")], base_env(str(tmp_path)))
    assert rc == 1 and "nope.ini" in one_line(err)
    assert not os.path.ismount(tmp_path / "mp")


def test_fstab_noise_accepted(tmp_path, mounter):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.csv").write_text("x\n")
    with mounter(str(src), "_netdev,nofail,defaults,rw,ro,x-systemd.automount,noatime") as m:
        assert open(m.path("bronze", "a.csv")).read() == "x\n"
        with pytest.raises(OSError) as e:
            open(m.path("bronze", "b.csv"), "w")
        assert e.value.errno == errno.EROFS


def test_uid_gid(tmp_path, mounter):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.csv").write_text("x\n")
    with mounter(str(src), "uid=1234,gid=4321") as m:
        st = os.stat(m.path("bronze", "a.csv"))
        assert (st.st_uid, st.st_gid) == (1234, 4321)
        st = os.stat(m.path("bronze"))
        assert (st.st_uid, st.st_gid) == (1234, 4321)


def test_mountpoint_not_a_directory(tmp_path):
    (tmp_path / "src").mkdir()
    f = tmp_path / "file"
    f.write_text("")
    rc, err = run_daemon([str(tmp_path / "src"), str(f), "-f"], base_env(str(tmp_path)))
    assert rc == 1 and "not a directory" in one_line(err)
    rc, err = run_daemon([str(tmp_path / "src"), str(tmp_path / "missing"), "-f"],
                         base_env(str(tmp_path)))
    assert rc == 1 and "missing" in one_line(err)


def test_missing_source_directory(tmp_path):
    (tmp_path / "mp").mkdir()
    rc, err = run_daemon([str(tmp_path / "nosuch"), str(tmp_path / "mp"), "-f"],
                         base_env(str(tmp_path)))
    assert rc == 1 and "nosuch" in one_line(err)


def test_wrong_secret_refused(s3server, tmp_path):
    (tmp_path / "mp").mkdir()
    env = base_env(str(tmp_path))
    env["AWS_SECRET_ACCESS_KEY"] = "definitely-wrong-secret"
    rc, err = run_daemon(["s3://%s" % BUCKET, str(tmp_path / "mp"), "-f", "-o", s3_opts(s3server)],
                         env)
    line = one_line(err)
    assert rc == 1
    assert "credentials" in line.lower() or "signature" in line.lower(), line
    assert "definitely-wrong-secret" not in err
    assert not os.path.ismount(tmp_path / "mp")


def test_unknown_access_key_refused(s3server, tmp_path):
    (tmp_path / "mp").mkdir()
    env = base_env(str(tmp_path))
    env["AWS_ACCESS_KEY_ID"] = "AKIANOSUCHKEY"
    rc, err = run_daemon(["s3://%s" % BUCKET, str(tmp_path / "mp"), "-f", "-o", s3_opts(s3server)],
                         env)
    assert rc == 1 and one_line(err)


def test_unknown_bucket_refused(s3server, tmp_path):
    (tmp_path / "mp").mkdir()
    rc, err = run_daemon(["s3://no-such-bucket/x", str(tmp_path / "mp"), "-f", "-o",
                          s3_opts(s3server)], base_env(str(tmp_path)))
    line = one_line(err)
    assert rc == 1 and "no-such-bucket" in line, line


def test_unreachable_endpoint_refused(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: nothing listens there
    (tmp_path / "mp").mkdir()
    t0 = time.monotonic()
    rc, err = run_daemon(["s3://%s" % BUCKET, str(tmp_path / "mp"), "-f", "-o",
                          "endpoint=http://127.0.0.1:%d,path_style,connect_timeout=1,retries=1" % port],
                         base_env(str(tmp_path)))
    line = one_line(err)
    assert rc == 1 and "127.0.0.1:%d" % port in line, line
    assert time.monotonic() - t0 < 20


def test_missing_credentials_refused(s3server, tmp_path):
    (tmp_path / "mp").mkdir()
    env = base_env(str(tmp_path))
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # never ask 169.254.169.254
    rc, err = run_daemon(["s3://%s" % BUCKET, str(tmp_path / "mp"), "-f", "-o", s3_opts(s3server)],
                         env)
    line = one_line(err)
    assert rc == 1 and "credentials" in line.lower(), line


def test_world_readable_credentials_file_refused(s3server, tmp_path):
    (tmp_path / "mp").mkdir()
    env = base_env(str(tmp_path))
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    creds = tmp_path / "credentials"
    creds.write_text("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (
        ACCESS_KEY, SECRET_KEY))
    os.chmod(creds, 0o644)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(creds)
    rc, err = run_daemon(["s3://%s" % BUCKET, str(tmp_path / "mp"), "-f", "-o", s3_opts(s3server)],
                         env)
    line = one_line(err)
    assert rc == 1 and str(creds) in line, line
    assert SECRET_KEY not in err
    # the same file with 0600 mounts
    os.chmod(creds, 0o600)
    m = Mount("s3://%s" % BUCKET, str(tmp_path), opts=s3_opts(s3server), env=env)
    with m:
        assert os.path.isdir(m.path("bronze"))


def test_profile_from_config_file(s3server, tmp_path):
    s3server.put("prof/a.csv", b"p\n")
    env = base_env(str(tmp_path))
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    cfg = tmp_path / "config"
    cfg.write_text("[profile lakeuser]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                   "region = eu-west-3\n" % (ACCESS_KEY, SECRET_KEY))
    os.chmod(cfg, 0o600)
    env["AWS_CONFIG_FILE"] = str(cfg)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    with Mount("s3://%s/prof" % BUCKET, str(tmp_path), opts=s3_opts(s3server, "profile=lakeuser"),
               env=env) as m:
        assert open(m.path("bronze", "a.csv")).read() == "p\n"


def test_secret_never_in_debug_output(s3server, tmp_path):
    s3server.put("dbg/a.csv", b"a\n")
    env = base_env(str(tmp_path))
    env["AWS_SESSION_TOKEN"] = "mfsSessionTokenSecret123"
    # s3rver ignores the token; the secret and token must still never be printed
    m = Mount("s3://%s/dbg" % BUCKET, str(tmp_path), opts=s3_opts(s3server), env=env, args=["-d"])
    with m:
        assert open(m.path("bronze", "a.csv")).read() == "a\n"
        os.listdir(m.path("bronze"))
    out = m.stderr()
    assert "GET" in out or "get" in out.lower()  # debug output really was on
    assert SECRET_KEY not in out
    assert "mfsSessionTokenSecret123" not in out
    assert "Signature=" not in out or "Signature= REDACTED" in out or "Signature=REDACTED" in out
    with open("/proc/%d/cmdline" % os.getpid(), "rb") as f:
        assert SECRET_KEY.encode() not in f.read()


def test_daemon_mode_detaches_and_tells_the_truth(s3server, tmp_path):
    s3server.put("dm/a.csv", b"d\n")
    mp = tmp_path / "mp"
    mp.mkdir()
    env = base_env(str(tmp_path))
    # relative paths are resolved before the daemon changes directory
    p = subprocess.run([MEDALLIONFS, "s3://%s/dm" % BUCKET, "mp", "-o", s3_opts(s3server)],
                       env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=30)
    try:
        assert p.returncode == 0, p.stderr
        assert os.path.ismount(mp)
        assert open(mp / "bronze" / "a.csv").read() == "d\n"
    finally:
        subprocess.run(["fusermount3", "-u", str(mp)])
    # a failing check in daemon mode: the parent's status says so
    env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    p = subprocess.run([MEDALLIONFS, "s3://%s/dm" % BUCKET, str(mp), "-o", s3_opts(s3server)],
                       env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and p.stderr.strip()
    assert not os.path.ismount(mp)


def test_server_stopped_mid_read_gives_eio_then_recovers(private_s3server, tmp_path):
    srv = private_s3server
    data = random.Random(3).randbytes(48 * 1024 * 1024)
    srv.put("big.bin", data)
    srv.put("small.csv", b"still here\n")
    m = Mount("s3://%s" % BUCKET, str(tmp_path),
              opts=s3_opts(srv, "connect_timeout=1,request_timeout=2,retries=1,metadata_ttl=1"),
              expect_stderr=("bronze/big.bin", "bronze/small.csv", "bronze/(root)"))
    with m:
        p = m.path("bronze", "big.bin")
        got = bytearray()
        with open(p, "rb", buffering=0) as f:
            got += f.read(1 << 20)
            srv.stop()
            with pytest.raises(OSError) as e:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    got += chunk
            assert e.value.errno == errno.EIO
        # whatever was returned is exactly the object's bytes
        assert bytes(got) == data[:len(got)]
        assert len(got) < len(data)
        errors = open(m.path(".medallion", "errors")).read()
        assert "bronze/big.bin" in errors
        srv.start()
        time.sleep(1.2)
        assert open(m.path("bronze", "small.csv"), "rb").read() == b"still here\n"
        with open(p, "rb") as f:
            assert f.read() == data


def test_server_down_at_first_lookup_gives_eio(private_s3server, tmp_path):
    """A name never looked up while the server is down: the listing fails
    after its retries and the application sees EIO (SPEC §9), not the
    connection errno; the name resolves once the server is back."""
    srv = private_s3server
    srv.put("later/a.csv", b"x\n1\n")
    m = Mount("s3://%s" % BUCKET, str(tmp_path),
              opts=s3_opts(srv, "connect_timeout=1,request_timeout=2,retries=1,metadata_ttl=1"),
              expect_stderr=("bronze/",))
    with m:
        srv.stop()
        for path in (m.path("bronze", "later"), m.path("bronze", "later", "a.csv")):
            with pytest.raises(OSError) as e:
                os.stat(path)
            assert e.value.errno == errno.EIO, e.value
        srv.start()
        time.sleep(1.2)
        assert open(m.path("bronze", "later", "a.csv"), "rb").read() == b"x\n1\n"


def test_object_changed_during_read_never_mixes(s3server, tmp_path):
    old = random.Random(11).randbytes(40 * 1024 * 1024)
    new = random.Random(12).randbytes(40 * 1024 * 1024)
    s3server.put("chg/f.bin", old)
    m = Mount("s3://%s/chg" % BUCKET, str(tmp_path), opts=s3_opts(s3server),
              expect_stderr=("bronze/f.bin",))
    with m:
        got = bytearray()
        with open(m.path("bronze", "f.bin"), "rb", buffering=0) as f:
            got += f.read(1 << 20)
            s3server.put("chg/f.bin", new)
            try:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    got += chunk
            except OSError as e:
                assert e.errno == errno.EIO
        # either all from the old version (read-ahead already had it) or a clean EIO
        assert bytes(got) == old[:len(got)]


def test_sigterm_during_large_read(s3server, tmp_path):
    data = random.Random(21).randbytes(64 * 1024 * 1024)
    s3server.put("term/big.bin", data)
    m = Mount("s3://%s/term" % BUCKET, str(tmp_path), opts=s3_opts(s3server))
    m.start()
    try:
        reader = subprocess.Popen(["sh", "-c", "while true; do cat '%s' > /dev/null || exit 0; done"
                                   % m.path("bronze", "big.bin")])
        time.sleep(1.0)
        t0 = time.monotonic()
        m.proc.send_signal(signal.SIGTERM)
        rc = m.proc.wait(10)
        elapsed = time.monotonic() - t0
        assert elapsed < 5, elapsed
        assert rc == 0, m.stderr()
        assert not os.path.ismount(m.mp)
        reader.kill()
        reader.wait()
    finally:
        if m.proc and m.proc.poll() is None:
            m.proc.kill()
        subprocess.run(["fusermount3", "-u", "-z", m.mp], stderr=subprocess.DEVNULL)
        m.proc = None


def test_kill9_leaves_disconnected_mount(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a")
    m = Mount(str(src), str(tmp_path))
    m.start()
    try:
        m.proc.kill()
        m.proc.wait(10)
        with pytest.raises(OSError) as e:
            os.listdir(m.mp)
        assert e.value.errno == errno.ENOTCONN
    finally:
        subprocess.run(["fusermount3", "-u", "-z", m.mp])
        m.proc = None


def proxied_mount(server, tmp_path, prefix, **kw):
    from faultproxy import FaultProxy
    proxy = FaultProxy(server.port).start()
    opts = "endpoint=%s,path_style,metadata_ttl=60,connect_timeout=1,request_timeout=2,retries=3" % (
        proxy.endpoint)
    return proxy, Mount("s3://%s/%s" % (BUCKET, prefix), str(tmp_path), opts=opts, **kw)


def test_archived_object_gives_eio_with_reason(s3server, tmp_path):
    s3server.put("arch/cold.csv", b"frozen\n")
    proxy, m = proxied_mount(s3server, tmp_path, "arch", expect_stderr=("bronze/cold.csv",))
    try:
        with m:
            p = m.path("bronze", "cold.csv")
            assert os.stat(p).st_size == 7
            proxy.set("archived", -1)
            with pytest.raises(OSError) as e:
                open(p, "rb").read()
            assert e.value.errno == errno.EIO
            errors = open(m.path(".medallion", "errors")).read()
            assert "bronze/cold.csv" in errors and "InvalidObjectState" in errors, errors
            # 403 is never retried (retries=3 would make 4 GETs per read); the kernel
            # may issue the failed read once more itself after its read-ahead failed.
            assert 1 <= sum(1 for r in proxy.requests if r.method == "GET") <= 2
            proxy.set("none")
            assert open(p, "rb").read() == b"frozen\n"  # restored: readable again
    finally:
        proxy.close()


@pytest.mark.parametrize("mode", ["503", "500", "reset", "truncate"])
def test_transient_faults_are_retried_by_the_mount(s3server, tmp_path, mode):
    data = random.Random(31).randbytes(3 * 1024 * 1024 + 7)
    s3server.put("flaky/f.bin", data)
    proxy, m = proxied_mount(s3server, tmp_path, "flaky")
    try:
        with m:
            p = m.path("bronze", "f.bin")
            assert os.stat(p).st_size == len(data)
            proxy.set(mode, 2)
            with open(p, "rb") as f:
                assert f.read() == data
            assert sum(1 for r in proxy.requests if r.faulted) == 2
    finally:
        proxy.close()
