"""10,000 random mutations of valid request bodies (and some of the HTTP
head): every one gets an answer (a result, a fault, or an HTTP error), the
server never crashes or hangs, and /health answers afterwards."""

import http.client
import random
import unittest
import xmlrpc.client

from harness import ServerTestCase, SLOW

SEEDS = [
    xmlrpc.client.dumps(({"a": [1, 2.5, True, "s", b"b", None]},), "server.echo", allow_none=True),
    xmlrpc.client.dumps(([{"methodName": "server.echo", "params": [1]},
                          {"methodName": "server.info", "params": []}],), "system.multicall"),
    xmlrpc.client.dumps(("system.listMethods",), "system.methodHelp"),
    xmlrpc.client.dumps((), "server.info"),
    "<?xml version='1.0'?><methodCall><methodName>server.echo</methodName><params><param><value>"
    "<i8>123456789012</i8></value></param><param><value><dateTime.iso8601>20260101T00:00:00"
    "</dateTime.iso8601></value></param></params></methodCall>",
]
TOKENS = [b"<", b">", b"</", b"<value>", b"</value>", b"<array><data>", b"<struct>", b"<member>",
          b"<name>", b"&amp;", b"&#0;", b"&#xD800;", b"\x00", b"\xff", b"\xc3", b"<!DOCTYPE x>",
          b"<![CDATA[", b"]]>", b"<?pi?>", b"<nil/>", b"<i8>", b"99999999999999999999", b"-",
          b"<base64>", b"====", b" ", b"\n"]


def mutate(rng, body):
    b = bytearray(body)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(5)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            del b[pos:pos + rng.randint(1, 20)]
        elif op == 1:
            b[pos:pos] = rng.choice(TOKENS)
        elif op == 2 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif op == 3 and b:
            start = rng.randrange(len(b))
            b[pos:pos] = b[start:start + rng.randint(1, 40)]
        else:
            b = b[:pos]
    return bytes(b)


class Mutations(ServerTestCase):

    def test_10000_mutated_bodies_all_answered(self):
        rng = random.Random(20261203)
        seeds = [s.encode() for s in SEEDS]
        auth = self.server.auth_header()
        conn = None
        outcomes = {"result": 0, "fault": 0, "http": 0}
        for i in range(10000):
            body = mutate(rng, rng.choice(seeds))
            if conn is None:
                conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=10 * SLOW)
            try:
                conn.request("POST", "/RPC2", body, {"Content-Type": "text/xml", "Authorization": auth})
                r = conn.getresponse()
                data = r.read()
            except (http.client.HTTPException, OSError) as e:
                self.fail("mutation %d got no answer (%r): %r" % (i, e, body[:200]))
            if r.status != 200:
                outcomes["http"] += 1
            else:
                try:
                    xmlrpc.client.loads(data, use_builtin_types=True)
                    outcomes["result"] += 1
                except xmlrpc.client.Fault:
                    outcomes["fault"] += 1
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        self.assertEqual(sum(outcomes.values()), 10000)
        self.assertGreater(outcomes["fault"], 1000)
        self.assertTrue(self.server.alive())
        c = self.server.http()
        c.request("GET", "/health")
        self.assertEqual(c.getresponse().status, 200)
        self.assertServing()

    def test_500_mutated_http_heads_all_answered_or_closed(self):
        rng = random.Random(7)
        valid = (b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nAuthorization: "
                 + self.server.auth_header().encode() + b"\r\nContent-Length: %d\r\n\r\n")
        body = SEEDS[0].encode()
        for i in range(500):
            head = mutate(rng, valid % len(body))
            reply = self.server.raw(head + body, timeout=5 * SLOW, half_close=True)
            self.assertTrue(reply == b"" or reply.startswith(b"HTTP/1."), (i, head, reply[:80]))
        self.assertServing()


if __name__ == "__main__":
    unittest.main()
