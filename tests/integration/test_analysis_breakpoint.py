"""The shipped Python analysis, breakpoint-count, against the loop fixture:
it sets a breakpoint through CORRAL_URL with its own token, counts hits and
reports them with analysis.report."""

import os
import unittest

from harness import ServerTestCase, fixture, SLOW
from test_analysis_basic import SHIPPED


class AnalysisBreakpoint(ServerTestCase):
    server_args = ("--analysis-dir", SHIPPED)

    def setUp(self):
        if "target.breakpoint" not in self.proxy("viewer").system.listMethods():
            self.skipTest("target.breakpoint is not built in this server")

    def test_breakpoint_count_reports_hits_of_tick(self):
        p = self.proxy("oper")
        t = p.target.launch({"argv": [fixture("loop")]})
        tid = t["id"]
        try:
            a = p.analysis.launch("breakpoint-count", {"target": tid, "symbol": "tick", "duration": 1.0})
            self.assertEqual(a["target"], tid)
            info = p.analysis.wait(a["id"], 30000 * SLOW)
            out = p.analysis.readOutput(a["id"], "stderr", 0, 10000)["data"].decode(errors="replace")
            self.assertEqual((info["state"], info["exitCode"]), ("exited", 0), out)
            res = p.analysis.results(a["id"], 0, 10)["results"]
            self.assertEqual(len(res), 1, res)
            data = res[0]["data"]
            self.assertEqual((data["symbol"], data["target"]), ("tick", tid))
            self.assertEqual(int(data["address"], 16), p.target.symbol(tid, "tick"))
            self.assertGreater(data["hits"], 5)
            # the analysis left the target running, breakpoint gone
            self.assertEqual(p.target.breakpoints(tid), [])
            self.assertEqual(p.target.info(tid)["state"], "running")
            stdout = p.analysis.readOutput(a["id"], "stdout", 0, 10000)["data"]
            self.assertIn(b"reported hits=%d" % data["hits"], stdout)
        finally:
            p.target.kill(tid)

    def test_breakpoint_count_refuses_a_missing_target_param(self):
        f = self.assertFault(-32602, self.proxy("oper").analysis.launch, "breakpoint-count", {"symbol": "tick"})
        self.assertIn("'target'", f.faultString)


if __name__ == "__main__":
    unittest.main()
