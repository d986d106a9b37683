"""bronze/: keys as paths, byte-exact reads, metadata_ttl, read-only, for an
S3 source (loopback server, SigV4 checked) and a local-directory source."""
import errno
import hashlib
import os
import random
import stat
import subprocess
import threading
import time

import pytest

from conftest import stats
from lakes import make_lake


@pytest.fixture(params=["s3", "local"])
def lake(request, s3server, tmp_path):
    return make_lake(request.param, s3server, tmp_path)


def rand_bytes(n, seed):
    return random.Random(seed).randbytes(n)


def test_layout(lake, mounter):
    lake.put("hello.txt", b"hi\n")
    with mounter(lake.source, lake.opts()) as m:
        assert sorted(os.listdir(m.mp)) == [".medallion", "bronze", "gold", "silver"]
        assert os.listdir(m.path("silver")) == []  # hello.txt is not tabular
        assert os.listdir(m.path("gold")) == ["_profile"]  # no pipeline: profiles only
        assert sorted(os.listdir(m.path(".medallion"))) == ["errors", "lineage", "pipeline",
                                                            "rejects", "shadowed", "stats"]
        st = os.stat(m.path("bronze"))
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o555
        st = os.stat(m.path("bronze", "hello.txt"))
        assert stat.S_IMODE(st.st_mode) == 0o444 and st.st_size == 3
        assert st.st_uid == os.getuid() and st.st_gid == os.getgid()
        with open(m.path("bronze", "hello.txt"), "rb") as f:
            assert f.read() == b"hi\n"
        with pytest.raises(FileNotFoundError):
            os.stat(m.path("bronze", "nope.txt"))
        with pytest.raises(FileNotFoundError):
            os.stat(m.path("silver", "nope.csv"))
        sv = os.statvfs(m.mp)
        assert sv.f_flag & os.ST_RDONLY


def test_nested_prefixes_empty_dirs_zero_bytes_case(lake, mounter):
    lake.put("sales/2024/jan.csv", b"a,b\n1,2\n")
    lake.put("sales/2024/feb.csv", b"a,b\n3,4\n")
    lake.put("sales/2023/q4/dec.csv", b"a,b\n")
    lake.put("empty.bin", b"")
    lake.put("Case.txt", b"upper")
    lake.put("case.txt", b"lower")
    lake.mkdir("nothing_here/")
    with mounter(lake.source, lake.opts()) as m:
        b = m.path("bronze")
        assert sorted(os.listdir(b)) == ["Case.txt", "case.txt", "empty.bin", "nothing_here",
                                         "sales"]
        assert os.listdir(os.path.join(b, "nothing_here")) == []
        assert sorted(os.listdir(os.path.join(b, "sales"))) == ["2023", "2024"]
        assert sorted(os.listdir(os.path.join(b, "sales", "2024"))) == ["feb.csv", "jan.csv"]
        assert os.path.isdir(os.path.join(b, "sales", "2023", "q4"))
        assert os.stat(os.path.join(b, "empty.bin")).st_size == 0
        assert open(os.path.join(b, "empty.bin"), "rb").read() == b""
        assert open(os.path.join(b, "Case.txt"), "rb").read() == b"upper"
        assert open(os.path.join(b, "case.txt"), "rb").read() == b"lower"
        assert open(os.path.join(b, "sales", "2024", "feb.csv"), "rb").read() == b"a,b\n3,4\n"
        # ls -l sizes come from the listing (and find walks every level)
        out = subprocess.run(["find", b, "-type", "f", "-printf", "%P %s\n"],
                             capture_output=True, text=True, check=True).stdout
        sizes = dict(l.rsplit(" ", 1) for l in out.splitlines())
        assert sizes["sales/2024/jan.csv"] == "8" and sizes["empty.bin"] == "0"
        assert len(sizes) == 6


def test_pagination_2500_keys(lake, mounter):
    keys = ["many/k%05d.csv" % i for i in range(2500)]
    lake.put_many([(k, k.encode()) for k in keys])
    with mounter(lake.source, lake.opts("metadata_ttl=30")) as m:
        names = os.listdir(m.path("bronze", "many"))
        assert len(names) == 2500
        assert sorted(names) == sorted(k.split("/")[1] for k in keys)
        assert open(m.path("bronze", "many", "k02499.csv"), "rb").read() == b"many/k02499.csv"
        # ls -l: sizes for every entry without a request per entry
        out = subprocess.run(["ls", "-l", m.path("bronze", "many")], capture_output=True,
                             text=True, check=True).stdout
        assert out.count("many") == 0 and len(out.splitlines()) == 2501
        assert " 15 " in out.splitlines()[1]  # the size, from the listing
        st = stats(m)
        assert st["heads"] == 0, st


SPECIAL_NAMES = ["with space.csv", "plus+sign.csv", "percent%20.csv", "tilde~x.csv",
                 "caf\u00e9-\u65e5\u672c.csv", "k=v.csv", "a&b.csv", "semi;colon.csv",
                 "quote'.csv", "hash#.csv", "q?mark.csv", "star*.csv"]


def test_special_characters_in_keys(lake, mounter):
    lake.put_many([("odd/" + n, ("data of " + n).encode()) for n in SPECIAL_NAMES])
    lake.put_many([("dir with space/k=v/x.csv", b"nested")])
    with mounter(lake.source, lake.opts()) as m:
        assert sorted(os.listdir(m.path("bronze", "odd"))) == sorted(SPECIAL_NAMES)
        for n in SPECIAL_NAMES:
            with open(m.path("bronze", "odd", n), "rb") as f:
                assert f.read() == ("data of " + n).encode(), n
        assert open(m.path("bronze", "dir with space", "k=v", "x.csv"), "rb").read() == b"nested"


def test_large_object_cmp_and_random_preads(lake, mounter, tmp_path):
    data = rand_bytes(64 * 1024 * 1024 + 12345, 1)
    lake.put("big/blob.bin", data)
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    with mounter(lake.source, lake.opts()) as m:
        p = m.path("bronze", "big", "blob.bin")
        assert os.stat(p).st_size == len(data)
        subprocess.run(["cmp", str(src), p], check=True)
        rng = random.Random(7)
        fd = os.open(p, os.O_RDONLY)
        try:
            for _ in range(200):
                off = rng.randrange(0, len(data))
                size = rng.choice([1, 17, 4096, 65536, 131072, 1 << 20, rng.randrange(1, 3 << 20)])
                got = os.pread(fd, size, off)
                assert got == data[off:off + size], (off, size)
            # past the end
            assert os.pread(fd, 10, len(data)) == b""
            assert os.pread(fd, 10, len(data) + 100) == b""
        finally:
            os.close(fd)


@pytest.mark.parametrize("block_cache", ["8M", "2M", "0"])
def test_random_reads_through_block_cache(lake, mounter, block_cache):
    """Random reads that come back to the same 1 MiB blocks: served from the
    block cache when it has room (block_hits in stats), always byte-exact,
    also while a small budget keeps evicting and with the cache off."""
    data = rand_bytes(64 * 1024 * 1024 + 333, 2)
    lake.put("big/rand.bin", data)
    hot = [5, 21, 37, 53, 64]  # MiB: far apart, so every read is random; the last block is short
    with mounter(lake.source, lake.opts("block_cache=" + block_cache)) as m:
        p = m.path("bronze", "big", "rand.bin")
        before = stats(m)["block_hits"]
        rng = random.Random(11)
        fd = os.open(p, os.O_RDONLY)
        try:
            for i in range(300):
                base = hot[i % len(hot)] << 20
                off = min(base + rng.randrange(0, 1 << 20), len(data) - 1)
                size = rng.choice([1, 4096, 65536, 300000])
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # make the kernel ask again
                got = os.pread(fd, size, off)
                assert got == data[off:off + size], (off, size)
        finally:
            os.close(fd)
        hits = stats(m)["block_hits"] - before
    if block_cache == "8M":
        assert hits > 200
    elif block_cache == "0":
        assert hits == 0


def test_concurrent_readers(lake, mounter):
    blobs = {"par/f%d.bin" % i: rand_bytes(3 * 1024 * 1024 + i * 1000, 100 + i) for i in range(8)}
    lake.put_many(list(blobs.items()))
    results = {}
    with mounter(lake.source, lake.opts()) as m:
        def reader(key):
            with open(m.path("bronze", *key.split("/")), "rb") as f:
                results[key] = hashlib.sha256(f.read()).hexdigest()

        threads = [threading.Thread(target=reader, args=(k,)) for k in blobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert results == {k: hashlib.sha256(v).hexdigest() for k, v in blobs.items()}


def test_overwrite_seen_after_ttl(lake, mounter):
    lake.put("upd/x.csv", b"version one\n")
    lake.put("upd/y.csv", b"AAAA")
    with mounter(lake.source, lake.opts("metadata_ttl=1")) as m:
        p = m.path("bronze", "upd", "x.csv")
        q = m.path("bronze", "upd", "y.csv")
        assert open(p, "rb").read() == b"version one\n"
        assert open(q, "rb").read() == b"AAAA"
        # A different size, and the same size within the same second: the ETag decides.
        lake.put("upd/x.csv", b"version two is longer\n")
        lake.put("upd/y.csv", b"BBBB")
        time.sleep(1.3)
        assert os.stat(p).st_size == len(b"version two is longer\n")
        assert open(p, "rb").read() == b"version two is longer\n"
        assert open(q, "rb").read() == b"BBBB"
        # gone from the store: gone from the mount after the TTL
        lake.delete("upd/y.csv")
        time.sleep(1.3)
        assert sorted(os.listdir(m.path("bronze", "upd"))) == ["x.csv"]
        assert not os.path.exists(q)


def test_kernel_cache_invalidated_for_open_file(lake, mounter):
    """Pages cached from the old version never mix with the new one."""
    old = rand_bytes(256 * 1024, 5)
    new = rand_bytes(256 * 1024, 6)
    lake.put("inv/f.bin", old)
    with mounter(lake.source, lake.opts("metadata_ttl=1")) as m:
        p = m.path("bronze", "inv", "f.bin")
        assert open(p, "rb").read() == old
        assert open(p, "rb").read() == old  # served again (kernel cache may keep it)
        lake.put("inv/f.bin", new)
        time.sleep(1.3)
        assert open(p, "rb").read() == new


def test_read_only(lake, mounter):
    lake.put("ro/a.csv", b"x")
    with mounter(lake.source, lake.opts()) as m:
        for path in [m.path("bronze", "new.txt"), m.path("silver", "new.csv"),
                     m.path("gold", "v.csv"), m.path(".medallion", "x")]:
            with pytest.raises(OSError) as e:
                open(path, "wb")
            assert e.value.errno == errno.EROFS, path
        with pytest.raises(OSError) as e:
            open(m.path("bronze", "ro", "a.csv"), "ab")
        assert e.value.errno == errno.EROFS
        for fn, args in [(os.mkdir, (m.path("bronze", "d"),)),
                         (os.unlink, (m.path("bronze", "ro", "a.csv"),)),
                         (os.rename, (m.path("bronze", "ro", "a.csv"), m.path("bronze", "b"))),
                         (os.chmod, (m.path("bronze", "ro", "a.csv"), 0o644))]:
            with pytest.raises(OSError) as e:
                fn(*args)
            assert e.value.errno == errno.EROFS, fn.__name__
        with pytest.raises(OSError) as e:
            os.setxattr(m.path("bronze", "ro", "a.csv"), "user.x", b"1")
        assert e.value.errno == errno.EROFS
        assert open(m.path("bronze", "ro", "a.csv"), "rb").read() == b"x"


def test_shadowed_key_beside_prefix(s3server, mounter, tmp_path):
    # S3 only: a local directory cannot hold a file and a folder of the same name.
    lake = make_lake("s3", s3server, tmp_path)
    lake.put("sh/a", b"i am shadowed")
    lake.put("sh/a/inner.csv", b"inner")
    with mounter(lake.source, lake.opts()) as m:
        assert os.listdir(m.path("bronze", "sh")) == ["a"]
        assert os.path.isdir(m.path("bronze", "sh", "a"))
        assert open(m.path("bronze", "sh", "a", "inner.csv"), "rb").read() == b"inner"
        shadowed = open(m.path(".medallion", "shadowed")).read()
        assert "sh/a\thidden by the prefix of the same name\n" in shadowed, shadowed


def test_xattrs(lake, mounter):
    lake.put("xa/f.csv", b"1,2\n")
    with mounter(lake.source, lake.opts()) as m:
        p = m.path("bronze", "xa", "f.csv")
        assert os.getxattr(p, "user.medallion.source").decode().endswith("xa/f.csv")
        assert len(os.getxattr(p, "user.medallion.etag")) > 0
        with pytest.raises(OSError) as e:
            os.getxattr(p, "user.other")
        assert e.value.errno == errno.ENODATA


def test_statistics_and_medallion_files(lake, mounter):
    lake.put("st/f.csv", b"abc")
    with mounter(lake.source, lake.opts()) as m:
        assert open(m.path("bronze", "st", "f.csv"), "rb").read() == b"abc"
        st = stats(m)
        assert st["store"] == lake.kind
        assert st["bytes_read"] >= 3
        assert open(m.path(".medallion", "errors")).read() == ""
