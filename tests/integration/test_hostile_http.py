"""Hostile HTTP (issue 5's battery, the transport part): lying lengths,
10,000 headers, and 500 slowloris connections, each answered with its
status while a normal client is served promptly throughout. test_core_http
covers one 4 GiB claim, 2000 headers and 20 stalled clients; these are the
attacks at full size and their variants.

RAW_CASES is also run in a loop by test_hostile_rss (the memory check)."""

import selectors
import socket
import threading
import time
import unittest

from harness import ServerTestCase, SLOW

IO_TIMEOUT_MS = 4000


def head(lines):
    return ("".join(l + "\r\n" for l in lines) + "\r\n").encode()


# (name, raw request bytes, HTTP status). The name says the attack.
RAW_CASES = [
    # a client claims a huge body to make the server reserve or wait for it
    ("content_length_4gib", head(["POST /RPC2 HTTP/1.1", "Host: x", "Content-Length: 4294967296"]), 413),
    ("content_length_2_64_minus_1",
     head(["POST /RPC2 HTTP/1.1", "Host: x", "Content-Length: 18446744073709551615"]), 400),
    ("content_length_2_64", head(["POST /RPC2 HTTP/1.1", "Host: x", "Content-Length: 18446744073709551616"]), 400),
    ("content_length_negative", head(["POST /RPC2 HTTP/1.1", "Host: x", "Content-Length: -1"]), 400),
    ("content_length_plus", head(["POST /RPC2 HTTP/1.1", "Host: x", "Content-Length: +5"]) + b"hello", 400),
    ("content_length_list", head(["POST /RPC2 HTTP/1.1", "Host: x", "Content-Length: 5, 5"]) + b"hello", 400),
    ("content_length_twice_differing",
     head(["POST /RPC2 HTTP/1.1", "Host: x", "Content-Length: 5", "Content-Length: 6"]) + b"hello!", 400),
    # smuggling: both framings, and a chunk size that wraps 64 bits
    ("te_and_cl", head(["POST /RPC2 HTTP/1.1", "Host: x", "Content-Length: 5",
                        "Transfer-Encoding: chunked"]) + b"0\r\n\r\n", 400),
    ("chunk_size_4gib", head(["POST /RPC2 HTTP/1.1", "Host: x", "Transfer-Encoding: chunked"])
     + b"100000000\r\n", 413),
    ("chunk_size_wraps_64_bits", head(["POST /RPC2 HTTP/1.1", "Host: x", "Transfer-Encoding: chunked"])
     + b"10000000000000000000\r\n", 413),
    ("te_gzip", head(["POST /RPC2 HTTP/1.1", "Host: x", "Transfer-Encoding: gzip, chunked"]), 501),
    # 10,000 headers (60 KB) against a 16 KiB header limit
    ("headers_10000", head(["GET /health HTTP/1.1"] + ["h%d: v" % i for i in range(10000)]), 431),
    ("headers_10000_one_name", head(["GET /health HTTP/1.1"] + ["Authorization: Bearer x"] * 10000), 431),
    # one 1 MB header line, and a 1 MB request line
    ("header_line_1mb", head(["GET /health HTTP/1.1", "X: " + "v" * (1 << 20)]), 431),
    ("request_line_1mb", head(["GET /" + "a" * (1 << 20) + " HTTP/1.1"]), 414),
    # a NUL and a bare CR inside a header value
    ("nul_in_header", head(["GET /health HTTP/1.1", "X: a\0b"]), 400),
    ("bare_cr_in_header", head(["GET /health HTTP/1.1", "X: a\rb"]), 400),
]


def send_raw(server, data, timeout):
    """Send data and read until close. The server may answer and close
    before it has read everything (it refuses 1 MB headers after 16 KiB):
    a failed send is then expected, and the answer is still read."""
    s = socket.create_connection((server.host, server.port), timeout=timeout)
    out = b""
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


def status_of(reply):
    if not reply.startswith(b"HTTP/1.1 "):
        return None
    return int(reply[9:12])


class HostileHttp(ServerTestCase):
    server_args = ("--io-timeout-ms", str(IO_TIMEOUT_MS))

    def test_every_hostile_request_gets_its_status_at_once(self):
        for name, raw, status in RAW_CASES:
            with self.subTest(name):
                t0 = time.time()
                reply = send_raw(self.server, raw, 5 * SLOW)
                self.assertEqual(status_of(reply), status, (name, reply[:200]))
                # answered without waiting for the body the request claimed
                self.assertLess(time.time() - t0, 3 * SLOW, name)
                self.assertIn(b"Connection: close", reply.split(b"\r\n\r\n")[0], name)
                self.assertServing()

    def test_500_slowloris_connections_while_a_normal_client_is_served(self):
        """Half dribble a header that never ends, half a body that never
        ends (the R.U.D.Y. variant), a byte a second each. The server must
        answer 408 and close each at the io timeout (counted from the
        request's start, not from the last byte, or dribbling would hold the
        connection for ever), and answer a normal client promptly all the
        while."""
        sel = selectors.DefaultSelector()
        socks = []
        body_head = ("POST /RPC2 HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 100000\r\n\r\n"
                     % self.server.auth_header()).encode()
        for i in range(500):
            s = socket.create_connection((self.server.host, self.server.port), timeout=10)
            s.sendall(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nX-Slow: " if i % 2 == 0 else body_head + b"<")
            s.setblocking(False)
            socks.append(s)
            sel.register(s, selectors.EVENT_READ, i)
        t_open = time.time()
        replies = {}
        latencies, errors = [], []
        stop = threading.Event()

        def normal_client():
            p = self.proxy()
            while not stop.is_set():
                t0 = time.time()
                try:
                    self.assertEqual(p.server.echo("normal"), "normal")
                except Exception as e:  # noqa: BLE001 - collected and asserted below
                    errors.append(repr(e))
                latencies.append(time.time() - t0)
                time.sleep(0.1)

        client = threading.Thread(target=normal_client)
        client.start()
        try:
            next_drip = time.time() + 1
            deadline = t_open + (IO_TIMEOUT_MS / 1000) * 3 + 10 * SLOW
            while (sum(1 for r in replies.values() if r[1] is not None) < len(socks)
                   and time.time() < deadline):
                for key, _ in sel.select(timeout=0.2):
                    s = key.fileobj
                    try:
                        data = s.recv(4096)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except ConnectionError:
                        data = b""
                    got = replies.setdefault(key.data, [b"", None])
                    got[0] += data
                    if not data:
                        got[1] = time.time() - t_open
                        sel.unregister(s)
                if time.time() >= next_drip:
                    next_drip += 1
                    for i, s in enumerate(socks):
                        if i not in replies or replies[i][1] is None:
                            try:
                                s.send(b"a")
                            except (BlockingIOError, ConnectionError):
                                pass
        finally:
            stop.set()
            client.join(30)
            for s in socks:
                s.close()
        closed = {i: r for i, r in replies.items() if r[1] is not None}
        self.assertEqual(len(closed), 500, "only %d of 500 were closed" % len(closed))
        statuses = [status_of(r[0]) for r in closed.values()]
        self.assertEqual(statuses.count(408), 500, sorted(set(map(str, statuses))))
        first = min(r[1] for r in closed.values())
        last = max(r[1] for r in closed.values())
        # not before the timeout, and not long after it either
        self.assertGreater(first, IO_TIMEOUT_MS / 1000 - 0.5)
        self.assertLess(last, IO_TIMEOUT_MS / 1000 + 3 * SLOW)
        self.assertEqual(errors, [])
        self.assertGreater(len(latencies), 10)
        self.assertLess(max(latencies), 1.0 * SLOW, sorted(latencies)[-5:])
        self.assertServing()


if __name__ == "__main__":
    unittest.main()
