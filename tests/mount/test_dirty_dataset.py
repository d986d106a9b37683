"""The generated dirty dataset (scripts/gen-dirty-data) through a real mount:
every silver file equals the generator's expected output byte for byte, its
xattrs match the manifest, and rows_in = rows_out + rejected + duplicates."""
import json
import os
import subprocess

import pytest

from conftest import ROOT
from lakes import make_lake

GEN = os.path.join(ROOT, "scripts", "gen-dirty-data")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("dirty")
    subprocess.run(["/usr/bin/python3", GEN, "--out", str(out), "--rows", "1500", "--seed", "7"],
                   check=True, capture_output=True)
    rows = []
    with open(out / "MANIFEST.tsv") as f:
        names = f.readline().lstrip("# ").rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(names, line.rstrip("\n").split("\t"))))
    assert len(rows) >= 10
    return out, rows


@pytest.mark.parametrize("kind", ["local", "s3"])
@pytest.mark.parametrize("date_order", ["mdy", "dmy"])
def test_dirty_dataset_value_by_value(kind, date_order, dataset, s3server, mounter, tmp_path):
    out, manifest = dataset
    files = [r for r in manifest if r["date_order"] == date_order]
    assert files
    lake = make_lake(kind, s3server, tmp_path)
    # one directory per input, so a.csv and a.csv.gz both keep plain silver names
    lake.put_many([("d%d/%s" % (i, r["file"]), (out / r["file"]).read_bytes())
                   for i, r in enumerate(files)])
    pipe = tmp_path / "p.ini"
    pipe.write_text("[silver]\ndate_order = %s\n" % date_order)
    with mounter(lake.source, lake.opts("pipeline=%s" % pipe)) as m:
        for i, r in enumerate(files):
            base = r["file"]
            for suffix in (".gz", ".zst"):
                if base.endswith(suffix):
                    base = base[:-len(suffix)]
            silver = os.path.splitext(base)[0] + ".csv"
            p = m.path("silver", "d%d" % i, silver)
            got = open(p, "rb").read()
            want = (out / r["expected"]).read_bytes()
            assert got == want, "%s: silver differs from %s" % (r["file"], r["expected"])
            x = {a: int(os.getxattr(p, "user.medallion." + a))
                 for a in ["rows_in", "rows_out", "rejected", "duplicates"]}
            assert x["rows_in"] == x["rows_out"] + x["rejected"] + x["duplicates"], r["file"]
            assert (x["rows_in"], x["rows_out"], x["rejected"], x["duplicates"]) == (
                int(r["rows_in"]), int(r["rows_out"]), int(r["rejected"]),
                int(r["duplicates"])), r["file"]
            assert json.loads(os.getxattr(p, "user.medallion.schema")) == json.loads(r["schema"])
