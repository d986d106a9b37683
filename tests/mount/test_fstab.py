"""The mount(8) helper: /etc/fstab lines and `mount -t medallionfs` work, and
what mount(8) passes to every helper (rw, defaults, _netdev...) never makes
the mount writable."""
import errno
import os
import subprocess

import pytest

from conftest import BUILD, base_env

HELPER = os.path.join(BUILD, "fs", "mount.medallionfs")
SBIN = "/usr/sbin/mount.medallionfs"


def lake(tmp_path):
    src = tmp_path / "src"
    (src / "sales").mkdir(parents=True)
    (src / "sales" / "a.csv").write_text("id,amount\n1,$2.50\n")
    mp = tmp_path / "mp"
    mp.mkdir()
    return src, mp


def check_mounted(mp):
    assert os.path.ismount(mp)
    assert open(mp / "bronze" / "sales" / "a.csv").read() == "id,amount\n1,$2.50\n"
    assert open(mp / "silver" / "sales" / "a.csv").read() == "id,amount\n1,2.50\n"
    with pytest.raises(OSError) as e:
        open(mp / "bronze" / "new.csv", "w")
    assert e.value.errno == errno.EROFS


def test_helper_as_mount_calls_it(tmp_path):
    src, mp = lake(tmp_path)
    env = base_env(str(tmp_path))
    try:
        p = subprocess.run([HELPER, str(src), str(mp), "-o",
                            "rw,defaults,_netdev,nofail,noatime,x-systemd.automount,"
                            "cache_dir=%s" % (tmp_path / "c")],
                           env=env, capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        check_mounted(mp)
    finally:
        subprocess.run(["fusermount3", "-u", str(mp)], stderr=subprocess.DEVNULL)
    # mount -f ("fake") does nothing
    p = subprocess.run([HELPER, str(src), str(mp), "-f", "-o", "defaults"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and not os.path.ismount(mp)
    # a bad option still fails with one clear line
    p = subprocess.run([HELPER, str(src), str(mp), "-o", "bogus"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "bogus" in p.stderr and not os.path.ismount(mp)


@pytest.fixture
def sbin_helper():
    """mount(8) looks for helpers in /sbin only: link ours there for the test
    (never over an installed one), and take it away again."""
    if os.path.lexists(SBIN):
        if os.path.realpath(SBIN) != os.path.realpath(HELPER):
            pytest.fail("%s exists (installed?); run the fstab tests on a machine without it"
                        % SBIN)
        yield
        return
    os.symlink(HELPER, SBIN)
    try:
        yield
    finally:
        os.unlink(SBIN)


def test_mount_t_and_fstab(tmp_path, sbin_helper):
    src, mp = lake(tmp_path)
    env = base_env(str(tmp_path))
    opts = "defaults,rw,_netdev,cache_dir=%s" % (tmp_path / "c")
    try:
        p = subprocess.run(["mount", "-t", "medallionfs", "-o", opts, str(src), str(mp)],
                           env=env, capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        check_mounted(mp)
    finally:
        subprocess.run(["fusermount3", "-u", str(mp)], stderr=subprocess.DEVNULL)
    fstab = tmp_path / "fstab"
    fstab.write_text("# scratch fstab\n%s %s medallionfs %s 0 0\n" % (src, mp, opts))
    try:
        p = subprocess.run(["mount", "-a", "-T", str(fstab), "-t", "medallionfs"], env=env,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        check_mounted(mp)
    finally:
        subprocess.run(["fusermount3", "-u", str(mp)], stderr=subprocess.DEVNULL)


def test_meson_install_puts_everything_in_place(tmp_path):
    dest = tmp_path / "dest"
    p = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--destdir", str(dest)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    found = {os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs}
    names = {os.path.basename(f): f for f in found}
    for want in ["medallionfs", "mount.medallionfs", "medallionfs.1", "medallionfs-pipeline.5"]:
        assert want in names, sorted(found)
    assert "/bin/" in "/" + names["medallionfs"] and "/sbin/" in "/" + names["mount.medallionfs"]
    assert os.access(dest / names["mount.medallionfs"], os.X_OK)
    v = subprocess.run([str(dest / names["medallionfs"]), "--version"], capture_output=True,
                       text=True)
    assert v.returncode == 0 and v.stdout.startswith("medallionfs ")
