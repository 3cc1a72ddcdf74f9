"""HTTP/1.1 behaviour of the gateway: keep-alive, pipelining, chunked bodies,
limits (413, 431, 408) and many connections at once."""

import socket
import threading
import time
import unittest
import xmlrpc.client

from harness import ServerTestCase, SLOW


def echo_request(server, value, extra_headers="", version="1.1", auth=None):
    body = xmlrpc.client.dumps((value,), "server.echo").encode()
    head = ("POST /RPC2 HTTP/%s\r\nHost: x\r\nContent-Type: text/xml\r\n"
            "Authorization: %s\r\nContent-Length: %d\r\n%s\r\n"
            % (version, auth or server.auth_header(), len(body), extra_headers))
    return head.encode() + body


def read_responses(sock, count, timeout=10):
    """Read count whole HTTP responses (Content-Length framed) from sock."""
    sock.settimeout(timeout)
    buf, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return out, buf
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        out.append((head, rest[:length]))
        buf = rest[length:]
    return out, buf


class Http(ServerTestCase):

    def connect(self):
        return socket.create_connection((self.server.host, self.server.port), timeout=10)

    def test_1000_sequential_calls_on_one_keepalive_connection(self):
        c = self.server.http()
        body = xmlrpc.client.dumps(("k",), "server.echo")
        h = {"Content-Type": "text/xml", "Authorization": self.server.auth_header()}
        for i in range(1000):
            c.request("POST", "/RPC2", body, h)
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(xmlrpc.client.loads(r.read())[0][0], "k")
        # the same socket carried every call
        self.assertIsNotNone(c.sock)

    def test_200_concurrent_connections(self):
        errors, done = [], []

        def client(n):
            try:
                p = self.proxy()
                for i in range(5):
                    v = {"client": n, "i": i}
                    if p.server.echo(v) != v:
                        errors.append((n, i))
                done.append(n)
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append((n, repr(e)))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60 * SLOW)
        self.assertEqual(errors, [])
        self.assertEqual(len(done), 200)

    def test_two_pipelined_requests_in_one_write_are_answered_in_order(self):
        s = self.connect()
        s.sendall(echo_request(self.server, "first") + echo_request(self.server, "second"))
        out, _ = read_responses(s, 2)
        s.close()
        self.assertEqual([xmlrpc.client.loads(b)[0][0] for _, b in out], ["first", "second"])

    def test_many_pipelined_requests_in_order(self):
        s = self.connect()
        s.sendall(b"".join(echo_request(self.server, i) for i in range(300)))
        out, _ = read_responses(s, 300, timeout=30)
        s.close()
        self.assertEqual([xmlrpc.client.loads(b)[0][0] for _, b in out], list(range(300)))

    def test_chunked_body(self):
        body = xmlrpc.client.dumps(("chunky" * 100,), "server.echo").encode()
        chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(body[i:i + 37]), body[i:i + 37])
                          for i in range(0, len(body), 37))
        req = ("POST /RPC2 HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
               % self.server.auth_header()).encode() + chunks + b"0\r\nTrailer: x\r\n\r\n"
        s = self.connect()
        s.sendall(req)
        out, _ = read_responses(s, 1)
        s.close()
        self.assertEqual(xmlrpc.client.loads(out[0][1])[0][0], "chunky" * 100)

    def test_oversized_body_is_413(self):
        s = self.connect()
        s.sendall(("POST /RPC2 HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n"
                   % (self.server.auth_header(), 17 * 1024 * 1024)).encode())
        out, _ = read_responses(s, 1)
        s.close()
        self.assertTrue(out[0][0].startswith(b"HTTP/1.1 413"), out)
        self.assertServing()

    def test_4gib_content_length_claim_is_413_at_once(self):
        t0 = time.time()
        reply = self.server.raw(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 4294967296\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply)
        self.assertLess(time.time() - t0, 5)

    def test_huge_header_block_is_431(self):
        junk = "".join("X-Junk-%d: %s\r\n" % (i, "v" * 20) for i in range(2000))
        reply = self.server.raw(("GET /health HTTP/1.1\r\nHost: x\r\n%s\r\n" % junk).encode())
        self.assertTrue(reply.startswith(b"HTTP/1.1 431"), reply[:100])
        self.assertServing()

    def test_client_that_stalls_gets_408(self):
        s = self.connect()
        s.sendall(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<method")
        s.settimeout(20 * SLOW)
        t0 = time.time()
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        took = time.time() - t0
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 408"), data)
        self.assertGreater(took, 8)

    def test_stalled_client_does_not_block_others(self):
        stalled = [self.connect() for _ in range(20)]
        for s in stalled:
            s.sendall(b"POST /RPC2 HTTP/1.1\r\nContent-Length: 50\r\n\r\n<me")
        t0 = time.time()
        for i in range(50):
            self.assertEqual(self.proxy().server.echo(i), i)
        self.assertLess(time.time() - t0, 10 * SLOW)
        for s in stalled:
            s.close()

    def test_http10_closes_unless_keepalive(self):
        s = self.connect()
        s.sendall(echo_request(self.server, 1, version="1.0"))
        out, rest = read_responses(s, 1)
        self.assertIn(b"Connection: close", out[0][0])
        self.assertEqual(s.recv(10), b"")  # closed by the server
        s.close()
        s = self.connect()
        s.sendall(echo_request(self.server, 1, "Connection: keep-alive\r\n", version="1.0") +
                  echo_request(self.server, 2, "Connection: keep-alive\r\n", version="1.0"))
        out, _ = read_responses(s, 2)
        self.assertEqual(len(out), 2)
        s.close()

    def test_connection_close_is_honoured(self):
        s = self.connect()
        s.sendall(echo_request(self.server, 1, "Connection: close\r\n"))
        out, _ = read_responses(s, 1)
        self.assertEqual(len(out), 1)
        self.assertEqual(s.recv(10), b"")
        s.close()

    def test_expect_100_continue(self):
        body = xmlrpc.client.dumps(("cont",), "server.echo").encode()
        s = self.connect()
        s.sendall(("POST /RPC2 HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: %d\r\n"
                   "Expect: 100-continue\r\n\r\n" % (self.server.auth_header(), len(body))).encode())
        s.settimeout(5)
        first = s.recv(100)
        self.assertTrue(first.startswith(b"HTTP/1.1 100"), first)
        s.sendall(body)
        out, _ = read_responses(s, 1)
        self.assertEqual(xmlrpc.client.loads(out[0][1])[0][0], "cont")
        s.close()

    def test_garbage_request_line_is_400(self):
        reply = self.server.raw(b"HELLO\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply)
        reply = self.server.raw(b"GET /health HTTP/2.0\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 505"), reply)
        self.assertServing()

    def test_client_vanishing_mid_call_does_not_hurt(self):
        for _ in range(50):
            s = self.connect()
            s.sendall(echo_request(self.server, "gone"))
            s.close()
        self.assertServing()


if __name__ == "__main__":
    unittest.main()
