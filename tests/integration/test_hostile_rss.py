"""The whole hostile battery, several times over, against one server: the
server's RSS afterwards stays within 10% of what it was after one warm-up
round (issue 5). A leak or an unbounded cache fed by hostile input (the XML
decoder's per-thread parser, the broker's zone, connection buffers) grows
with every round; the allocator's retention of freed memory does not,
which is what the warm-up round absorbs.

Inputs are those of test_hostile_xml, test_hostile_http, test_hostile_ipc
and test_hostile_entities (imported as modules, so their test classes do
not run again here)."""

import os
import socket
import time
import unittest
import xmlrpc.client

from harness import SANITIZE, SLOW, VALGRIND, ServerTestCase, fixture
import test_hostile_entities as he
import test_hostile_http as hh
import test_hostile_ipc as hi
import test_hostile_xml as hx

IO_TIMEOUT_MS = 1500
ROUNDS = 3


class HostileRss(ServerTestCase):
    server_args = ("--io-timeout-ms", str(IO_TIMEOUT_MS), "--max-read", str(he.MAX_READ),
                   "--analysis-dir", he.SHIPPED)

    def one_round(self, methods):
        n = 0
        for name, body, code in hx.CASES:
            f = self.server.fault_of(body)
            self.assertEqual(f.faultCode, code, name)
            n += 1
        for name, raw, status in hh.RAW_CASES:
            self.assertEqual(hh.status_of(hh.send_raw(self.server, raw, 5 * SLOW)), status, name)
            n += 1
        # 100 slowloris connections, held until the server times them out
        slow = [socket.create_connection((self.server.host, self.server.port), timeout=10 * SLOW)
                for _ in range(100)]
        for s in slow:
            s.sendall(b"POST /RPC2 HTTP/1.1\r\nX-Slow: ")
        for s in slow:
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 408"))
            s.close()
        n += len(slow)
        if os.path.exists(hi.INJECT):
            for name, identity, messages, _ in hi.CASES:
                rc, out, _ = hi.inject(self.server, identity, messages, timeout_ms=200)
                self.assertNotIn("recv", out, name)
                n += 1
        if "target.readMemory" in methods:
            p = self.proxy("oper")
            tid = p.target.launch({"argv": [fixture("loop")], "stopAtEntry": True})["id"]
            for addr, length, code in he.READ_CASES:
                f = self.server.fault_of(user="oper", body=he.call_xml(
                    "target.readMemory", "<string>%s</string>" % tid, addr, length))
                self.assertEqual(f.faultCode, code)
                n += 1
            p.target.kill(tid)
            p.target.remove(tid)
        if "analysis.launch" in methods:
            p = self.proxy("oper")
            for name in he.BAD_FILE_NAMES:
                self.assertFault(-32602, p.analysis.launch, "logfmt-report", {}, {"files": {name: b"x"}})
                n += 1
            for name in he.BAD_ANALYSIS_NAMES:
                self.assertFault(1, p.analysis.launch, name, {})
                n += 1
        self.assertServing()
        return n

    def settled_rss(self):
        time.sleep(2)
        return self.server.rss_kib()

    def test_rss_after_the_battery_is_within_10_percent(self):
        methods = self.proxy().system.listMethods()
        self.one_round(methods)                      # warm-up: caches and arenas reach size
        before = self.settled_rss()
        inputs = 0
        for _ in range(ROUNDS):
            inputs += self.one_round(methods)
        after = self.settled_rss()
        print("\nhostile battery: %d inputs in %d rounds, all answered; RSS %d KiB -> %d KiB (%+.1f%%)"
              % (inputs, ROUNDS, before, after, 100.0 * (after - before) / before))
        if SANITIZE or VALGRIND:
            # ASan keeps freed memory in its quarantine (256 MB by default)
            # and valgrind reports its own RSS: growth there is the tool's.
            # ASan's leak check and valgrind's memcheck judge leaks instead.
            self.skipTest("RSS is not the server's own under ASan/valgrind (measured %d -> %d KiB)"
                          % (before, after))
        self.assertLessEqual(after, before * 1.10, "RSS grew from %d to %d KiB" % (before, after))


if __name__ == "__main__":
    unittest.main()
