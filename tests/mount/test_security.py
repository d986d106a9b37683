"""Security (issue 6): who may enter a mount, what they may do there, where
secrets never appear, and object keys that try to climb out of it.

- As an unprivileged user the test creates (useradd, removed afterwards):
  without allow_other the mount answers EACCES to everything; with
  allow_other,default_permissions the modes are the kernel's to enforce
  (files 0444, directories 0555) and nothing anywhere is writable.
- No secret (secret key, session token) in `ps`, /proc/PID/cmdline, the -d
  output or any file under .medallion/.
- An expired session token, told by the server or by credential_process,
  refuses the mount with one clear line.
- Keys with "..", ".", "//", "%00", a NUL, or a component over 255 bytes,
  from a fake listing server (s3rver normalises such paths): hidden or listed
  safely, and every file reads exactly its own object's bytes.

Tests run as root, which no permission check stops: the access tests run
their probes as the created user.
"""
import errno
import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid

import pytest

from conftest import (ACCESS_KEY, BUCKET, SECRET_KEY, Mount, base_env, run_daemon, s3_opts)
from faultproxy import FaultProxy
from fakes3 import FakeS3
from lakes import LocalLake

PIPELINE = """[gold totals]
sql = SELECT region, sum(amount) AS total FROM sales GROUP BY region ORDER BY region
"""
SALES = "id,region,amount\n1,eu,10.50\n2,us,3.25\n3,eu,1.00\n"
WRITE_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}


@pytest.fixture(scope="module")
def user():
    name = "mfst%s" % uuid.uuid4().hex[:8]
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


@pytest.fixture
def public_dir():
    """A directory other users can traverse (pytest's tmp_path is 0700)."""
    d = tempfile.mkdtemp(prefix="mfs-sec-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def lake(public_dir):
    lake = LocalLake(os.path.join(public_dir, "lake"))
    lake.put("sales/a.csv", SALES)
    lake.put("notes.txt", "hello\n")
    pipe = os.path.join(public_dir, "pipeline.ini")
    with open(pipe, "w") as f:
        f.write(PIPELINE)
    return lake, pipe


PROBE = r"""
import errno, json, os, sys
def tryit(fn):
    try:
        r = fn()
        return ["ok", r]
    except OSError as e:
        return [errno.errorcode.get(e.errno, str(e.errno)), None]
def st(p):
    s = os.stat(p)
    return [s.st_mode, s.st_uid]
def rd(p):
    with open(p, "rb") as f:
        return f.read().decode("latin-1")
def wr(p):
    fd = os.open(p, os.O_WRONLY)
    os.close(fd)
def cr(p):
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.close(fd)
OPS = {
    "stat": st, "list": lambda p: sorted(os.listdir(p)), "read": rd, "write": wr,
    "trunc": lambda p: os.truncate(p, 0), "create": lambda p: cr(os.path.join(p, "new.csv")),
    "mkdir": lambda p: os.mkdir(os.path.join(p, "newdir")), "unlink": os.unlink,
    "rmdir": os.rmdir, "rename": lambda p: os.rename(p, p + ".moved"),
    "chmod": lambda p: os.chmod(p, 0o777), "setxattr": lambda p: os.setxattr(p, "user.x", b"1"),
    "utime": lambda p: os.utime(p, (0, 0)),
}
out = [[op, p, tryit(lambda: OPS[op](p))] for op, p in json.load(sys.stdin)]
json.dump(out, sys.stdout)
"""


def probe(ops, as_user=None):
    """Run (op, path) pairs in a child (as @as_user, a pwd entry, or root):
    {(op, path): (errno name or "ok", result)}."""
    kw = {}
    if as_user is not None:
        kw = dict(user=as_user.pw_uid, group=as_user.pw_gid, extra_groups=[])
    p = subprocess.run([sys.executable, "-c", PROBE], input=json.dumps(ops), capture_output=True,
                       text=True, timeout=60, cwd="/", env={"PATH": "/usr/bin:/bin"}, **kw)
    assert p.returncode == 0, p.stderr
    return {(op, path): tuple(res) for op, path, res in json.loads(p.stdout)}


def layer_paths(m):
    """A directory and a file of each layer."""
    return {
        "bronze": (m.path("bronze", "sales"), m.path("bronze", "sales", "a.csv")),
        "silver": (m.path("silver", "sales"), m.path("silver", "sales", "a.csv")),
        "gold": (m.path("gold"), m.path("gold", "totals.csv")),
        ".medallion": (m.path(".medallion"), m.path(".medallion", "stats")),
    }


def test_allow_other_off_by_default(user, lake, public_dir):
    lk, pipe = lake
    with Mount(lk.source, public_dir, opts="pipeline=%s" % pipe) as m:
        res = probe([["stat", m.mp], ["list", m.mp], ["stat", m.path("bronze", "notes.txt")],
                     ["read", m.path("bronze", "notes.txt")],
                     ["read", m.path("silver", "sales", "a.csv")]], as_user=user)
        for k, (err, _) in res.items():
            assert err == "EACCES", (k, err)
        # the same paths answer root, who mounted
        mine = probe([["list", m.mp], ["read", m.path("bronze", "notes.txt")]])
        assert mine[("list", m.mp)] == ("ok", [".medallion", "bronze", "gold", "silver"])
        assert mine[("read", m.path("bronze", "notes.txt"))] == ("ok", "hello\n")


def test_allow_other_respects_modes_and_nothing_is_writable(user, lake, public_dir):
    lk, pipe = lake
    opts = "pipeline=%s,allow_other,default_permissions" % pipe
    with Mount(lk.source, public_dir, opts=opts) as m:
        paths = layer_paths(m)
        ops = [["list", m.mp]]
        for d, f in paths.values():
            ops += [["stat", d], ["stat", f], ["list", d], ["read", f]]
            ops += [[op, f] for op in ("write", "trunc", "unlink", "rename", "chmod",
                                       "setxattr", "utime")]
            ops += [[op, d] for op in ("create", "mkdir", "rmdir", "chmod")]
        other = probe(ops, as_user=user)
        mine = probe(ops)
        assert other[("list", m.mp)] == ("ok", [".medallion", "bronze", "gold", "silver"])
        for layer, (d, f) in paths.items():
            dmode, duid = other[("stat", d)][1]
            fmode, fuid = other[("stat", f)][1]
            assert stat.S_ISDIR(dmode) and stat.S_IMODE(dmode) == 0o555, (layer, oct(dmode))
            assert stat.S_ISREG(fmode) and stat.S_IMODE(fmode) == 0o444, (layer, oct(fmode))
            assert duid == fuid == 0  # the mounting user owns everything
            assert other[("read", f)][0] == "ok", (layer, other[("read", f)])
            if layer != ".medallion":  # stats move on between the two reads
                assert other[("read", f)] == mine[("read", f)]
            for (op, p), (err, _) in other.items():
                if p in (d, f) and op not in ("stat", "list", "read"):
                    assert getattr(errno, err, None) in WRITE_ERRNOS, (
                        "user: %s %s -> %s" % (op, p, err))
            # root passes every permission check, but the mount is read-only
            for (op, p), (err, _) in mine.items():
                if p in (d, f) and op not in ("stat", "list", "read"):
                    assert err in ("EROFS", "EPERM", "EACCES"), "root: %s %s -> %s" % (op, p, err)
                    if layer != "bronze" and op in ("write", "trunc", "create", "mkdir"):
                        assert err == "EROFS", "root: %s %s -> %s" % (op, p, err)
        assert "10.50" in other[("read", paths["silver"][1])][1]
        assert "eu,11.50" in other[("read", paths["gold"][1])][1]


# ---- secrets ----

def walk_files(top):
    for d, _, files in os.walk(top):
        for f in files:
            yield os.path.join(d, f)


def test_no_secret_in_ps_debug_output_or_medallion(s3server, tmp_path):
    token = "mfsSessionToken" + uuid.uuid4().hex
    prefix = "sec-%s" % uuid.uuid4().hex[:8]
    s3server.put(prefix + "/sales/a.csv", SALES)
    s3server.put(prefix + "/other/bad.csv", bytes(range(256)) * 8)  # an error to record
    pipe = tmp_path / "pipeline.ini"
    pipe.write_text(PIPELINE)
    env = base_env(str(tmp_path))
    env["AWS_SESSION_TOKEN"] = token
    m = Mount("s3://%s/%s" % (BUCKET, prefix), str(tmp_path),
              opts=s3_opts(s3server, "pipeline=%s" % pipe), env=env, args=["-d"],
              expect_stderr=("bad.csv",))
    with m:
        pid = m.proc.pid
        assert open(m.path("bronze", "sales", "a.csv")).read() == SALES
        assert "10.50" in open(m.path("silver", "sales", "a.csv")).read()
        assert "11.50" in open(m.path("gold", "totals.csv")).read()
        with pytest.raises(OSError):
            open(m.path("silver", "other", "bad.csv")).read()
        texts = {}
        for p in walk_files(m.path(".medallion")):
            try:
                with open(p, "rb") as f:
                    texts[p] = f.read()
            except OSError as e:  # the rejects of a file that is not a table
                assert e.errno == errno.EIO and "bad.csv" in p, (p, e)
        for xp in ("silver/sales/a.csv", "gold/totals.csv"):
            p = m.path(*xp.split("/"))
            for name in os.listxattr(p):
                texts[p + "@" + name] = os.getxattr(p, name)
        ps = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(pid)], capture_output=True,
                            text=True).stdout
        ps_all = subprocess.run(["ps", "auxww"], capture_output=True, text=True).stdout
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read()
    out = m.stderr()
    assert "Authorization: REDACTED" in out or "authorization: REDACTED" in out.lower(), \
        "debug output was not on"
    assert any("bad.csv" in t.decode(errors="replace") for t in texts.values())  # errors file
    assert len(texts) >= 5, sorted(texts)
    assert "medallionfs" in ps and m.mp in ps
    for secret in (SECRET_KEY, token):
        assert secret not in out, "secret in -d output"
        assert secret not in ps and secret not in ps_all, "secret in ps"
        assert secret.encode() not in cmdline
        for p, t in texts.items():
            assert secret.encode() not in t, "secret in %s" % p


def one_line(err):
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_expired_session_token_from_server(s3server, tmp_path):
    """The server says ExpiredToken: the mount is refused, saying so."""
    (tmp_path / "mp").mkdir()
    env = base_env(str(tmp_path))
    env["AWS_SESSION_TOKEN"] = "mfsExpiredToken" + uuid.uuid4().hex
    with FaultProxy(s3server.port, "expired", -1) as proxy:
        opts = "endpoint=%s,path_style,connect_timeout=2,request_timeout=5,retries=2" % (
            proxy.endpoint)
        rc, err = run_daemon(["s3://%s" % BUCKET, str(tmp_path / "mp"), "-f", "-o", opts], env)
        attempts = len(proxy.requests)
    line = one_line(err)
    assert rc == 1, err
    assert "ExpiredToken" in line and "session token is expired" in line, line
    assert env["AWS_SESSION_TOKEN"] not in err and SECRET_KEY not in err
    assert attempts == 1  # a 400 is not retried
    assert not os.path.ismount(tmp_path / "mp")


def test_expired_credentials_from_credential_process(s3server, tmp_path):
    """credential_process hands out credentials that have already expired."""
    (tmp_path / "mp").mkdir()
    helper = tmp_path / "creds.py"
    helper.write_text("import json\nprint(json.dumps({'Version': 1, 'AccessKeyId': %r, "
                      "'SecretAccessKey': %r, 'SessionToken': 'mfsOldToken', "
                      "'Expiration': '2020-01-01T00:00:00Z'}))\n" % (ACCESS_KEY, SECRET_KEY))
    cfg = tmp_path / "config"
    cfg.write_text("[default]\ncredential_process = %s %s\n" % (sys.executable, helper))
    os.chmod(cfg, 0o600)
    env = base_env(str(tmp_path))
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env["AWS_CONFIG_FILE"] = str(cfg)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    rc, err = run_daemon(["s3://%s" % BUCKET, str(tmp_path / "mp"), "-f", "-o",
                          s3_opts(s3server)], env)
    line = one_line(err)
    assert rc == 1, err
    assert "expire" in line.lower() and "credential_process" in line, line
    assert SECRET_KEY not in err and "mfsOldToken" not in err
    assert not os.path.ismount(tmp_path / "mp")


# ---- hostile keys ----

LONG = "L" * 300
EXACT = "M" * 251 + ".txt"  # 255 bytes: the longest name a directory entry takes

HOSTILE = {
    "b.txt": b"the real b.txt",
    "a/../b.txt": b"NOT b.txt: a/../b.txt",
    "./c.txt": b"dot-slash c",
    "c.txt": b"the real c.txt",
    "d//e.txt": b"double slash",
    "d/e.txt": b"the real d/e.txt",
    "f/./g.txt": b"dot segment",
    "..": b"dotdot key",
    ".": b"dot key",
    "../../etc/passwd": b"root:x:0:0:climbed out",
    "/leading.txt": b"leading slash",
    "x%00y.txt": b"a literal percent-zero-zero",
    "x%2e%2e": b"a literal %2e%2e",
    "evil": b"the real evil",
    "sub/..": b"sub dotdot",
    "sub/.": b"sub dot",
    "sub/real.txt": b"the real sub/real.txt",
    "long/" + LONG + ".txt": b"too long a name",
    "long/" + EXACT: b"just fits",
    "new\nline.txt": b"newline in the name",
    "back\\slash.txt": b"backslash",
    "sp ace+plus.txt": b"space and plus",
}
# Sent %-encoded exactly so: a key holding a NUL byte, which would read as
# "evil" if anything cut it there.
RAW = {"evil%00.txt": b"NOT evil: the NUL-named object"}


def test_hostile_keys_cannot_escape_or_alias(tmp_path):
    with FakeS3(HOSTILE, raw_keys=RAW) as fake:
        env = base_env(str(tmp_path))
        opts = "endpoint=%s,path_style,metadata_ttl=60,connect_timeout=2,request_timeout=5," \
               "retries=1" % fake.endpoint
        with Mount("s3://lake", str(tmp_path), opts=opts, env=env) as m:
            bronze = m.path("bronze")
            served = {}
            for p in walk_files(bronze):
                rel = os.path.relpath(p, bronze)
                assert rel not in served
                with open(p, "rb") as f:
                    served[rel] = f.read()
            names = [n for d, dirs, files in os.walk(bronze) for n in dirs + files]
            shadowed = open(m.path(".medallion", "shadowed")).read()
            # the kernel resolves ".." itself: never the key "a/../b.txt"
            assert open(os.path.join(bronze, "a", "..", "b.txt"), "rb").read() == \
                HOSTILE["b.txt"]
            with pytest.raises(OSError) as e:
                os.stat(os.path.join(bronze, "long", LONG + ".txt"))
            assert e.value.errno in (errno.ENOENT, errno.ENAMETOOLONG)
            assert m.proc.poll() is None
            gets = [path for method, path in fake.requests if method == "GET" and "?" not in path
                    and path != "/lake" and path != "/lake/"]
    # every file shown reads exactly its own object
    for rel, data in served.items():
        assert HOSTILE.get(rel) == data, (rel, data)
    assert set(served) == {"b.txt", "c.txt", "d/e.txt", "x%00y.txt", "x%2e%2e", "evil",
                           "sub/real.txt", "long/" + EXACT, "new\nline.txt", "back\\slash.txt",
                           "sp ace+plus.txt"}, sorted(served)
    for n in names:
        assert n not in ("", ".", "..") and "/" not in n and len(n.encode()) <= 255, n
    # the keys that cannot be names are accounted for, not silently lost
    for k in ("..", ".", "long/" + LONG + ".txt"):
        assert k in shadowed, (k, shadowed)
    # no object was fetched but those shown
    for path in gets:
        assert path[len("/lake/"):] in served, path
