"""analysis.*: volume. 10,000 results in order and pageable; a stdout flood
stays bounded with `dropped` counted while the server keeps answering; and
the fd-3 ingest rate (printed, with the goal of 100,000 records/s)."""

import os
import threading
import time

from harness import ServerTestCase, SLOW
from test_analysis_basic import make_analysis_dir

ADIR = make_analysis_dir({
    "many": ('<param name="n" type="int" default="10000">records</param>',
             "#!/bin/sh\nawk -v n=\"$CORRAL_PARAM_N\" 'BEGIN { for (i = 1; i <= n; i++) "
             "printf \"i=%d name=rec v=0.5 note=\\\"r %d\\\"\\n\", i, i }' >&3\n", ".sh"),
    "flood": ('<param name="mb" type="int" default="40">MiB</param>',
              "#!/bin/sh\nhead -c $((CORRAL_PARAM_MB * 1048576)) /dev/zero | tr '\\0' 'x'\necho end=1 >&3\n",
              ".sh"),
})

MIB = 1 << 20


class AnalysisLoad(ServerTestCase):
    server_args = ("--analysis-dir", ADIR)

    def test_ten_thousand_results_all_there_in_order_and_pageable(self):
        p = self.proxy("oper")
        a = p.analysis.launch("many", {"n": 10000})
        info = p.analysis.wait(a["id"], 30000 * SLOW)
        self.assertEqual((info["state"], info["results"]), ("exited", 10000), info)
        after, seen, pages = 0, [], 0
        while True:
            page = p.analysis.results(a["id"], after, 999)
            pages += 1
            for r in page["results"]:
                self.assertEqual(r["seq"], len(seen) + 1)
                seen.append(r["data"]["i"])
            self.assertEqual(page["next"], len(seen))
            after = page["next"]
            if page["done"]:
                break
            self.assertLess(pages, 20)
        self.assertEqual(seen, list(range(1, 10001)))
        self.assertEqual(pages, 11)
        one = p.analysis.results(a["id"], 4999, 1)["results"]
        self.assertEqual(one[0]["data"], {"i": 5000, "name": "rec", "v": 0.5, "note": "r 5000"})
        # a page is bounded whatever max asks
        self.assertEqual(len(p.analysis.results(a["id"], 0, 10 ** 9)["results"]), 10000)

    def test_stdout_flood_is_bounded_dropped_counted_and_server_responsive(self):
        p = self.proxy("oper")
        stop = threading.Event()
        slow = []

        def ping():
            q = self.proxy("viewer")
            while not stop.is_set():
                t0 = time.time()
                q.server.echo("ping")
                slow.append(time.time() - t0)
                time.sleep(0.01)

        t = threading.Thread(target=ping)
        t.start()
        try:
            a = p.analysis.launch("flood", {"mb": 40})
            info = p.analysis.wait(a["id"], 60000 * SLOW)
        finally:
            stop.set()
            t.join()
        self.assertEqual(info["state"], "exited", info)
        self.assertLess(max(slow), 1.0 * SLOW, "echo stalled during the flood")
        tail = p.analysis.readOutput(a["id"], "stdout", -1, 4096)
        self.assertEqual(tail["next"], 40 * MIB)
        self.assertEqual(tail["data"], b"x" * 4096)
        self.assertTrue(tail["eof"])
        self.assertGreater(tail["dropped"], 20 * MIB)
        gap = p.analysis.readOutput(a["id"], "stdout", 20 * MIB, 100)
        self.assertGreater(gap["offset"], 20 * MIB)  # skipped to what was kept
        self.assertEqual(gap["dropped"], tail["dropped"])
        head = p.analysis.readOutput(a["id"], "stdout", 0, 100)
        self.assertEqual((head["data"], head["dropped"]), (b"x" * 100, 0))
        run = os.path.join(self.server.state, "runs", a["id"])
        self.assertLessEqual(os.path.getsize(os.path.join(run, "stdout.log")), 16 * MIB)
        self.assertEqual(p.analysis.results(a["id"], 0, 10)["results"][0]["data"], {"end": 1})
        self.assertServing()

    def test_fd3_ingest_rate(self):
        p = self.proxy("oper")
        n = 1000000
        a = p.analysis.launch("many", {"n": n})
        t0 = time.time()
        info = p.analysis.wait(a["id"], 120000 * SLOW)
        took = time.time() - t0
        self.assertEqual((info["state"], info["results"]), ("exited", n), info)
        rate = n / took
        print("\nfd-3 ingest: %d records in %.2f s = %.0f records/s (written per batch, fdatasync each second "
              "and at the end)" % (n, took, rate))
        last = p.analysis.results(a["id"], n - 1, 1)["results"][0]
        self.assertEqual(last["data"]["i"], n)
        if not os.environ.get("CORRAL_SANITIZE") == "ON":
            self.assertGreater(rate, 100000)


if __name__ == "__main__":
    import unittest
    unittest.main()
