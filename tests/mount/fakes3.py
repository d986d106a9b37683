"""A tiny fake S3 server (stdlib only) for keys no real server would store:
s3rver normalises paths, so "a/../b", "./c" or "d//e" never reach a listing.

It answers, on 127.0.0.1 and path-style for one bucket, ListObjectsV2 (with
delimiter, prefix, max-keys, continuation tokens and encoding-type=url), HEAD
and GET of objects (with Range). It checks no signature. `objects` maps each
key (str) to its bytes; `raw_keys` are extra listing entries sent exactly as
given (already %-encoded, e.g. "evil%00.txt" for a key with a NUL byte) with
the bytes they list. Every request is recorded as (method, unquoted path).
"""
import hashlib
import http.server
import threading
import urllib.parse
from xml.sax.saxutils import escape


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status, code):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
                "<Message>%s</Message></Error>" % (code, code)).encode()
        self._send(status, body, [("Content-Type", "application/xml")])

    def do_GET(self):
        fake = self.server.fake
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        fake.requests.append((self.command, path))
        bucket = "/" + fake.bucket
        if path in (bucket, bucket + "/"):
            return self._list(urllib.parse.parse_qs(url.query, keep_blank_values=True))
        if not path.startswith(bucket + "/"):
            return self._error(404, "NoSuchBucket")
        key = path[len(bucket) + 1:]
        data = fake.objects.get(key)
        if data is None:
            return self._error(404, "NoSuchKey")
        etag = '"%s"' % hashlib.md5(data).hexdigest()
        hdrs = [("ETag", etag), ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
                ("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes")]
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start = int(a)
            end = min(int(b) if b else len(data) - 1, len(data) - 1)
            if start >= len(data):
                return self._error(416, "InvalidRange")
            hdrs.append(("Content-Range", "bytes %d-%d/%d" % (start, end, len(data))))
            return self._send(206, data[start:end + 1], hdrs)
        return self._send(200, data, hdrs)

    do_HEAD = do_GET

    def _list(self, q):
        fake = self.server.fake
        prefix = q.get("prefix", [""])[0]
        delim = q.get("delimiter", [""])[0]
        url_enc = q.get("encoding-type", [""])[0] == "url"
        max_keys = int(q.get("max-keys", ["1000"])[0])
        start = int(q.get("continuation-token", ["0"])[0] or 0)

        def enc(s):
            return urllib.parse.quote(s, safe="/") if url_enc else escape(s)

        entries = []  # (sort key, xml)
        seen = set()
        for k in sorted(fake.objects):
            if k in fake.hidden_keys or not k.startswith(prefix):
                continue
            rest = k[len(prefix):]
            if delim and delim in rest:
                cp = prefix + rest[:rest.index(delim) + len(delim)]
                if cp not in seen:
                    seen.add(cp)
                    entries.append((cp, "<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>"
                                    % enc(cp)))
                continue
            entries.append((k, self._content(enc(k), fake.objects[k])))
        for raw, data in fake.raw_keys.items():
            entries.append((urllib.parse.unquote(raw), self._content(raw, data)))
        entries.sort(key=lambda e: e[0].encode("utf-8", "surrogateescape"))
        page = entries[start:start + max_keys]
        more = start + max_keys < len(entries)
        body = ['<?xml version="1.0" encoding="UTF-8"?>',
                '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
                "<Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount>" % (
                    fake.bucket, enc(prefix), len(page)),
                "<MaxKeys>%d</MaxKeys><Delimiter>%s</Delimiter>" % (max_keys, enc(delim)),
                "<IsTruncated>%s</IsTruncated>" % ("true" if more else "false")]
        if url_enc:
            body.append("<EncodingType>url</EncodingType>")
        if more:
            body.append("<NextContinuationToken>%d</NextContinuationToken>" % (start + max_keys))
        body += [xml for _, xml in page]
        body.append("</ListBucketResult>")
        self._send(200, "".join(body).encode(), [("Content-Type", "application/xml")])

    @staticmethod
    def _content(key_xml, data):
        return ("<Contents><Key>%s</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
                "<ETag>&quot;%s&quot;</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass>"
                "</Contents>" % (key_xml, hashlib.md5(data).hexdigest(), len(data)))


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class FakeS3:
    def __init__(self, objects, bucket="lake", raw_keys=None, hidden_keys=()):
        self.bucket = bucket
        self.objects = dict(objects)
        self.raw_keys = dict(raw_keys or {})
        self.hidden_keys = set(hidden_keys)  # readable by GET, not listed
        self.requests = []
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.fake = self
        self.port = self.server.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.thread = None

    def __enter__(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        return False
