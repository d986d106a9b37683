"""-o publish (SPEC §8): computed silver and gold files go back to the bucket with
their lineage, and a second mount of the same bucket (its own cache) serves them
instead of computing them again."""
import json
import os
import time

import pytest

from conftest import BUCKET, Mount, s3_opts, stats, wait_for

PIPELINE = """[silver]
format = csv

[gold revenue_by_region]
sql = SELECT region, sum(amount) AS revenue, count(*) AS orders
      FROM sales GROUP BY region ORDER BY region
"""

SALES_A = "order_id,region,amount\n1,eu,$10.00\n2,us,$5.50\n3,eu,$1.25\n3,eu,$1.25\n"
SALES_B = "Order ID;Region;Amount\n4;us;7\n5;apac;2.5\n6;apac;1;x\n"



def read_all(m, paths):
    out = {}
    for p in paths:
        with open(m.path(*p.split("/")), "rb") as f:
            out[p] = f.read()
    return out


def keys(s3server, prefix):
    out = []
    for page in s3server.client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


PATHS = ["silver/sales/a.csv", "silver/sales/2024/b.csv", "gold/revenue_by_region.csv",
         ".medallion/rejects/sales/2024/b.csv"]


def test_second_mount_computes_nothing(s3server, tmp_path):
    s3server.put("pub1/raw/_medallion.ini", PIPELINE)
    s3server.put("pub1/raw/sales/a.csv", SALES_A)
    s3server.put("pub1/raw/sales/2024/b.csv", SALES_B)
    src = "s3://%s/pub1/raw" % BUCKET
    first = Mount(src, str(tmp_path), opts=s3_opts(s3server, "publish"))
    with first:
        got1 = read_all(first, PATHS)
        attrs1 = {x: os.getxattr(first.path("silver", "sales", "2024", "b.csv"), x)
                  for x in ("user.medallion.rows_in", "user.medallion.rejected",
                            "user.medallion.schema")}
        s1 = stats(first)
        assert s1["transforms"] == 2 and s1["gold_views_computed"] >= 1
        # both silver files and the view; the view's silver inputs are not published again
        wait_for(lambda: stats(first)["published"] == 3)
        assert stats(first)["publish_failures"] == 0
    published = keys(s3server, "pub1/")
    for k in ["pub1/silver/sales/a.csv", "pub1/silver/sales/_a.csv.lineage.json",
              "pub1/silver/sales/_a.csv.rejects.csv", "pub1/silver/sales/_schema.sql",
              "pub1/silver/sales/2024/b.csv", "pub1/silver/sales/2024/_schema.sql",
              "pub1/gold/revenue_by_region/revenue_by_region.csv",
              "pub1/gold/revenue_by_region/_revenue_by_region.csv.lineage.json",
              "pub1/gold/revenue_by_region/_schema.sql"]:
        assert k in published, (k, published)
    # the published bytes are the mount's bytes
    body = s3server.client.get_object(Bucket=BUCKET, Key="pub1/silver/sales/a.csv")
    assert body["Body"].read() == got1["silver/sales/a.csv"]
    lineage_hash = body["Metadata"]["medallion-lineage"]
    assert len(lineage_hash) == 32
    side = json.loads(s3server.client.get_object(
        Bucket=BUCKET, Key="pub1/silver/sales/_a.csv.lineage.json")["Body"].read())
    assert side["lineage_hash"] == lineage_hash
    assert side["lineage"]["key"] == "sales/a.csv" and side["rows_out"] == 3
    gold = json.loads(s3server.client.get_object(
        Bucket=BUCKET,
        Key="pub1/gold/revenue_by_region/_revenue_by_region.csv.lineage.json")["Body"].read())
    assert sorted(i["key"] for i in gold["lineage"]["inputs"]) == ["sales/2024/b.csv",
                                                                   "sales/a.csv"]
    sql = s3server.client.get_object(
        Bucket=BUCKET, Key="pub1/gold/revenue_by_region/_schema.sql")["Body"].read().decode()
    assert "CREATE TABLE IF NOT EXISTS revenue_by_region" in sql
    assert "`revenue` DECIMAL(38,2)" in sql and "LOCATION 's3://lake/pub1/gold/revenue_by_region/'" in sql

    # A second mount on its own cache: nothing is computed, the same bytes are served.
    second = Mount(src, str(tmp_path), opts=s3_opts(s3server, "publish"))
    assert second.cache_dir != first.cache_dir
    with second:
        got2 = read_all(second, PATHS)
        attrs2 = {x: os.getxattr(second.path("silver", "sales", "2024", "b.csv"), x)
                  for x in attrs1}
        s2 = stats(second)
    print("second mount:", {k: s2[k] for k in ("transforms", "gold_views_computed",
                                               "gold_partials_computed", "gold_silver_transforms",
                                               "served_from_published", "published")})
    assert got2 == got1
    assert attrs2 == attrs1
    assert s2["transforms"] == 0
    assert s2["gold_views_computed"] == 0 and s2["gold_partials_computed"] == 0
    assert s2["gold_silver_transforms"] == 0
    assert s2["served_from_published"] == 3
    assert s2["published"] == 0


def test_changed_object_is_computed_again_and_republished(s3server, tmp_path):
    s3server.put("pub2/raw/sales/a.csv", SALES_A)
    src = "s3://%s/pub2/raw" % BUCKET
    with Mount(src, str(tmp_path), opts=s3_opts(s3server, "publish")) as m:
        open(m.path("silver", "sales", "a.csv")).read()
        wait_for(lambda: stats(m)["published"] == 1)
    s3server.put("pub2/raw/sales/a.csv", SALES_A + "9,us,$1.00\n")
    with Mount(src, str(tmp_path), opts=s3_opts(s3server, "publish")) as m:
        text = open(m.path("silver", "sales", "a.csv")).read()
        assert "9,us,1.00" in text
        s = stats(m)
        assert s["transforms"] == 1 and s["served_from_published"] == 0  # stale lineage
        wait_for(lambda: stats(m)["published"] == 1)
    body = s3server.client.get_object(Bucket=BUCKET, Key="pub2/silver/sales/a.csv")["Body"]
    assert body.read().decode() == text


def test_publish_inside_source_is_hidden_from_bronze(s3server, tmp_path):
    s3server.put("pub3/sales/a.csv", SALES_A)
    src = "s3://%s/pub3" % BUCKET
    opts = s3_opts(s3server, "publish=s3://%s/pub3/" % BUCKET)
    with Mount(src, str(tmp_path), opts=opts) as m:
        open(m.path("silver", "sales", "a.csv")).read()
        wait_for(lambda: stats(m)["published"] == 1)
    assert "pub3/silver/sales/a.csv" in keys(s3server, "pub3/")
    with Mount(src, str(tmp_path), opts=opts) as m:
        assert sorted(os.listdir(m.path("bronze"))) == ["sales"]
        assert sorted(os.listdir(m.path("silver"))) == ["sales"]
        open(m.path("silver", "sales", "a.csv")).read()
        assert stats(m)["served_from_published"] == 1 and stats(m)["transforms"] == 0


def test_publish_option_checked_at_mount(s3server, tmp_path):
    from conftest import base_env, run_daemon
    (tmp_path / "mp").mkdir()
    rc, err = run_daemon(["s3://%s/x" % BUCKET, str(tmp_path / "mp"), "-f", "-o",
                          s3_opts(s3server, "publish=s3://no-such-bucket/p")],
                         base_env(str(tmp_path)))
    assert rc == 1 and "no-such-bucket" in err
    rc, err = run_daemon(["s3://%s/x" % BUCKET, str(tmp_path / "mp"), "-f", "-o",
                          s3_opts(s3server, "publish=/tmp/x")], base_env(str(tmp_path)))
    assert rc == 2 and "publish" in err


def test_local_source_publishes_beside_it(tmp_path):
    lake = tmp_path / "data" / "raw"
    (lake / "sales").mkdir(parents=True)
    (lake / "sales" / "a.csv").write_text(SALES_A)
    with Mount(str(lake), str(tmp_path), opts="publish") as m:
        text = open(m.path("silver", "sales", "a.csv"), "rb").read()
        wait_for(lambda: stats(m)["published"] == 1)
    assert (tmp_path / "data" / "silver" / "sales" / "a.csv").read_bytes() == text
    assert (tmp_path / "data" / "silver" / "sales" / "_schema.sql").exists()
    with Mount(str(lake), str(tmp_path), opts="publish") as m:
        assert open(m.path("silver", "sales", "a.csv"), "rb").read() == text
        assert stats(m)["transforms"] == 0 and stats(m)["served_from_published"] == 1


def test_silver_inputs_of_a_view_are_published_too(s3server, tmp_path):
    s3server.put("pub4/raw/_medallion.ini", PIPELINE)
    s3server.put("pub4/raw/sales/a.csv", SALES_A)
    s3server.put("pub4/raw/sales/2024/b.csv", SALES_B)
    src = "s3://%s/pub4/raw" % BUCKET
    with Mount(src, str(tmp_path), opts=s3_opts(s3server, "publish")) as m:
        gold = open(m.path("gold", "revenue_by_region.csv"), "rb").read()  # gold only
        assert stats(m)["gold_silver_transforms"] == 2
        wait_for(lambda: stats(m)["published"] == 3)
    with Mount(src, str(tmp_path), opts=s3_opts(s3server, "publish")) as m:
        silver = open(m.path("silver", "sales", "2024", "b.csv"), "rb").read()
        assert open(m.path("gold", "revenue_by_region.csv"), "rb").read() == gold
        s = stats(m)
        assert s["transforms"] == 0 and s["gold_views_computed"] == 0
        assert s["served_from_published"] == 2
    assert s3server.client.get_object(
        Bucket=BUCKET, Key="pub4/silver/sales/2024/b.csv")["Body"].read() == silver
