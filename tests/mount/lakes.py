"""Two kinds of SOURCE behind one interface, so every bronze test runs
against the loopback S3 server and against a local directory."""
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor

from conftest import BUCKET, s3_opts


class S3Lake:
    kind = "s3"

    def __init__(self, server, prefix):
        self.server = server
        self.prefix = prefix  # "test-xxxx/"
        self.source = "s3://%s/%s" % (BUCKET, prefix.rstrip("/"))

    def opts(self, extra=""):
        return s3_opts(self.server, extra)

    def put(self, key, data):
        self.server.put(self.prefix + key, data)

    def put_many(self, items):
        with ThreadPoolExecutor(16) as ex:
            list(ex.map(lambda kv: self.put(*kv), items))

    def delete(self, key):
        self.server.delete(self.prefix + key)

    def get(self, key):
        """The object's bytes, or None when there is no such object."""
        try:
            return self.server.client.get_object(Bucket=BUCKET, Key=self.prefix + key)["Body"].read()
        except self.server.client.exceptions.NoSuchKey:
            return None

    def keys(self):
        """Every key under the prefix, relative to it."""
        out = []
        for page in self.server.client.get_paginator("list_objects_v2").paginate(
                Bucket=BUCKET, Prefix=self.prefix):
            out += [o["Key"][len(self.prefix):] for o in page.get("Contents", [])]
        return sorted(out)

    def mkdir(self, key):
        """An empty "directory": S3 consoles create a zero-byte KEY/ marker."""
        self.server.put(self.prefix + key.rstrip("/") + "/", b"")


class LocalLake:
    kind = "local"

    def __init__(self, root):
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.source = root

    def opts(self, extra=""):
        base = "metadata_ttl=1"
        return base + ("," + extra if extra else "")

    def _path(self, key):
        return os.path.join(self.root, *key.split("/"))

    def put(self, key, data):
        if isinstance(data, str):
            data = data.encode()
        p = self._path(key)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        tmp = p + ".tmp-" + uuid.uuid4().hex
        # Hidden from listings by the rename, like an S3 PUT.
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, p)

    def put_many(self, items):
        for k, v in items:
            self.put(k, v)

    def delete(self, key):
        os.unlink(self._path(key))

    def get(self, key):
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def keys(self):
        out = []
        for d, _, files in os.walk(self.root):
            out += [os.path.relpath(os.path.join(d, f), self.root) for f in files]
        return sorted(out)

    def mkdir(self, key):
        os.makedirs(self._path(key.rstrip("/")), exist_ok=True)


def make_lake(kind, s3server, tmp_path):
    if kind == "s3":
        return S3Lake(s3server, "t-%s/" % uuid.uuid4().hex[:12])
    return LocalLake(str(tmp_path / "lake"))
