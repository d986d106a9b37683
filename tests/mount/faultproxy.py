"""A tiny fault-injecting HTTP proxy for the S3 client tests (stdlib only).

It sits on 127.0.0.1 between the client and the loopback S3 server. The
first `count` requests (all of them when count < 0) get the fault of `mode`
— or, with `fraction`, a random share of the requests (seeded, so a run can
be repeated); the others are forwarded unchanged — the Host header too, so SigV4 signatures
made for the proxy's address still verify upstream. Every request is recorded
(method, path, headers, whether it was faulted) so tests can count attempts,
and so are accepted connections, to see keep-alive reuse.

Modes:
  none       forward everything
  503        503 SlowDown error body
  500        500 InternalError error body
  403        403 AccessDenied error body
  404        404 NoSuchKey (no body for HEAD)
  archived   403 InvalidObjectState (a GLACIER object not restored)
  expired    400 ExpiredToken (a session token past its expiry)
  reset      close the connection with a TCP reset, no answer
  truncate   forward, but send only half of the body announced, then close
  stall      read the request and answer nothing (until the proxy closes)
  stall-body forward the headers and half the body, then stall
  delay      wait `delay` seconds (beyond the client's timeout), then forward

down() makes it behave like a stopped server: the port refuses connections
and open keep-alive connections are reset; up() listens on the same port again.

Use in-process (FaultProxy(upstream_port, mode, count).start()) or as a
script: python3 faultproxy.py --upstream PORT [--mode M] [--count N].
"""
import argparse
import http.client
import random
import socket
import socketserver
import struct
import threading
import time

ERROR_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n'
             "<Error><Code>%s</Code><Message>%s</Message><RequestId>fault</RequestId></Error>")

FAULT_BODIES = {
    "503": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "500": (500, "Internal Server Error", "InternalError", "We encountered an internal error."),
    "403": (403, "Forbidden", "AccessDenied", "Access Denied"),
    "404": (404, "Not Found", "NoSuchKey", "The specified key does not exist."),
    "archived": (403, "Forbidden", "InvalidObjectState",
                 "The operation is not valid for the object's storage class"),
    "expired": (400, "Bad Request", "ExpiredToken", "The provided token has expired."),
}


class Request:
    def __init__(self, method, path, headers, faulted):
        self.method = method
        self.path = path
        self.headers = headers  # dict, lower-case names
        self.faulted = faulted

    def __repr__(self):
        return "<%s %s%s>" % (self.method, self.path, " (fault)" if self.faulted else "")


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        proxy = self.server.proxy
        with proxy.lock:
            proxy.connections += 1
        while not proxy.closing.is_set():
            try:
                line = self.rfile.readline(65536)
            except OSError:
                return
            if proxy.is_down:
                self.reset()
                return
            if not line or not line.strip():
                return
            try:
                method, path, _ = line.decode("latin-1").split(" ", 2)
            except ValueError:
                return
            headers = []
            while True:
                h = self.rfile.readline(65536)
                if not h or h in (b"\r\n", b"\n"):
                    break
                name, _, value = h.decode("latin-1").partition(":")
                headers.append((name.strip(), value.strip()))
            hd = {n.lower(): v for n, v in headers}
            body = b""
            if "content-length" in hd:
                body = self.rfile.read(int(hd["content-length"]))
            mode = proxy.take_fault()
            proxy.record(Request(method, path, hd, mode != "none"))
            try:
                if not self.serve(mode, method, path, headers, body):
                    return
            except OSError:
                return  # the client gave up first (its timeout)

    def reset(self):
        # SO_LINGER 0: close() sends RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def send(self, data):
        self.wfile.write(data)
        self.wfile.flush()

    def error(self, mode, method):
        status, reason, code, message = FAULT_BODIES[mode]
        body = (ERROR_XML % (code, message)).encode()
        head = ("HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\n"
                "Content-Length: %d\r\n\r\n" % (status, reason, len(body))).encode()
        self.send(head if method == "HEAD" else head + body)

    def serve(self, mode, method, path, headers, body):
        """Answer one request; False when the connection is finished."""
        if mode in FAULT_BODIES:
            self.error(mode, method)
            return True
        if mode == "reset":
            self.reset()
            return False
        if mode == "stall":
            self.server.proxy.closing.wait()
            return False
        if mode == "delay":
            if self.server.proxy.closing.wait(self.server.proxy.delay):
                return False
        status, reason, rheaders, rbody = self.server.proxy.forward(method, path, headers, body)
        out = ["HTTP/1.1 %d %s" % (status, reason)]
        length = None
        for n, v in rheaders:
            ln = n.lower()
            if ln in ("transfer-encoding", "connection", "keep-alive"):
                continue
            if ln == "content-length":
                length = int(v)
                continue
            out.append("%s: %s" % (n, v))
        if method != "HEAD":
            length = len(rbody)
        if length is not None:
            out.append("Content-Length: %d" % length)
        head = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")
        if method == "HEAD":
            self.send(head)
            return True
        if mode in ("truncate", "stall-body") and len(rbody) > 1:
            self.send(head + rbody[:len(rbody) // 2])
            if mode == "stall-body":
                self.server.proxy.closing.wait()
            return False
        self.send(head + rbody)
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class FaultProxy:
    def __init__(self, upstream_port, mode="none", count=-1, port=0):
        self.upstream_port = upstream_port
        self.mode = mode
        self.count = count
        self.fraction = None
        self.rng = random.Random(0)
        self.delay = 3.0
        self.is_down = False
        self.lock = threading.Lock()
        self.requests = []
        self.connections = 0  # client connections accepted
        self.closing = threading.Event()
        self.server = _Server(("127.0.0.1", port), _Handler)
        self.server.proxy = self
        self.port = self.server.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.thread = None

    def set(self, mode, count=-1, fraction=None, seed=0, delay=3.0):
        """Fault the next @count requests (all: -1), or with @fraction a
        random share of them, from a generator seeded with @seed."""
        with self.lock:
            self.mode = mode
            self.count = count
            self.fraction = fraction
            self.rng = random.Random(seed)
            self.delay = delay
            self.requests = []
            self.connections = 0

    def take_fault(self):
        with self.lock:
            if self.mode == "none" or self.count == 0:
                return "none"
            if self.fraction is not None:
                return self.mode if self.rng.random() < self.fraction else "none"
            if self.count > 0:
                self.count -= 1
            return self.mode

    def faulted(self):
        with self.lock:
            return sum(1 for r in self.requests if r.faulted)

    def record(self, req):
        with self.lock:
            self.requests.append(req)

    def forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for n, v in headers:
                conn.putheader(n, v)
            conn.endheaders(body or None)
            resp = conn.getresponse()
            rbody = resp.read()
            return resp.status, resp.reason, resp.getheaders(), rbody
        finally:
            conn.close()

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def down(self):
        """Like a stopped server: connects are refused, open connections reset."""
        with self.lock:
            if self.is_down:
                return
            self.is_down = True
        self.server.shutdown()
        self.server.server_close()

    def up(self):
        with self.lock:
            if not self.is_down:
                return
        self.server = _Server(("127.0.0.1", self.port), _Handler)
        self.server.proxy = self
        with self.lock:
            self.is_down = False
        self.start()

    def close(self):
        self.closing.set()
        if not self.is_down:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", type=int, required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="none")
    ap.add_argument("--count", type=int, default=-1)
    a = ap.parse_args()
    p = FaultProxy(a.upstream, a.mode, a.count, a.port).start()
    print("listening 127.0.0.1:%d" % p.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        p.close()


if __name__ == "__main__":
    main()
