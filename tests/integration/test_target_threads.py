"""target.*: multi-threaded programs, forks, execs and attach/detach."""

import os
import subprocess
import threading
import time

from harness import ServerTestCase, fixture, SLOW


class TargetThreads(ServerTestCase):

    def test_four_threads_hit_one_breakpoint_many_times(self):
        p = self.proxy("oper")
        tid = p.target.launch({"argv": [fixture("threads4")], "stopAtEntry": True})["id"]
        bp = p.target.breakpoint(tid, "work")
        p.target.resume(tid)
        tids = set()
        for _ in range(40):
            info = p.target.wait(tid, 5000 * SLOW)
            self.assertEqual(info["stopReason"], "breakpoint", info)
            self.assertEqual(info["pc"], bp["address"])
            ths = p.target.threads(tid)
            self.assertTrue(all(t["state"] == "stopped" for t in ths), ths)   # all-stop
            tids.add(p.target.events(tid, 0, 0)["events"][-1]["tid"])
            p.target.resume(tid)
        self.assertGreaterEqual(len(p.target.threads(tid)), 5)
        self.assertGreater(len(tids), 1)
        self.assertGreaterEqual(p.target.breakpoints(tid)[0]["hits"], 40)
        p.target.kill(tid)

    def test_fork_child_runs_untraced_without_breakpoints(self):
        p = self.proxy("oper")
        tid = p.target.launch({"argv": [fixture("forker")], "stopAtEntry": True})["id"]
        p.target.breakpoint(tid, "shared")
        hits = 0
        while True:
            p.target.resume(tid)
            info = p.target.wait(tid, 5000 * SLOW)
            if info["state"] != "stopped":
                break
            self.assertEqual(info["stopReason"], "breakpoint")
            hits += 1
        self.assertEqual(hits, 2)                     # the parent's calls only
        self.assertEqual(info["exitCode"], 13)        # the child exited 3, untouched
        forks = [e for e in p.target.events(tid, 0, 0)["events"] if e["type"] == "fork"]
        self.assertEqual(len(forks), 1)
        self.assertGreater(forks[0]["pid"], 0)

    def test_exec_stops_with_reason_exec(self):
        p = self.proxy("oper")
        tid = p.target.launch({"argv": [fixture("execer"), fixture("exitcode"), "5"]})["id"]
        info = p.target.wait(tid, 5000 * SLOW)
        self.assertEqual((info["state"], info["stopReason"]), ("stopped", "exec"))
        self.assertGreater(p.target.symbol(tid, "main"), 0)
        p.target.resume(tid)
        info = p.target.wait(tid, 5000 * SLOW)
        self.assertEqual(info["exitCode"], 5)
        types = [e["type"] for e in p.target.events(tid, 0, 0)["events"]]
        self.assertIn("exec", types)

    def test_attach_then_detach_runs_on(self):
        proc = subprocess.Popen([fixture("loop")], stdout=subprocess.PIPE)
        try:
            proc.stdout.readline()
            p = self.proxy("admin")
            self.assertFault(3, self.proxy("oper").target.attach, proc.pid)
            info = p.target.attach(proc.pid)
            self.assertEqual((info["state"], info["pid"]), ("running", proc.pid))
            tid = info["id"]
            bp = p.target.breakpoint(tid, "tick")
            info = p.target.wait(tid, 5000 * SLOW)
            self.assertEqual((info["stopReason"], info["pc"]), ("breakpoint", bp["address"]))
            self.assertEqual(p.target.detach(tid)["state"], "detached")
            self.assertIsNone(proc.poll())
            line = proc.stdout.readline()      # it runs on, unharmed by the int3
            self.assertTrue(line.startswith(b"tick"))
            proc.stdout.readline()
            self.assertIsNone(proc.poll())
            self.assertTrue(p.target.remove(tid))
        finally:
            proc.kill()
            proc.wait()

    def test_attach_bad_pid(self):
        self.assertFault(7, self.proxy("admin").target.attach, 0x7ffffff0)
        self.assertFault(3, self.proxy("admin").target.attach, self.server.proc.pid)


if __name__ == "__main__":
    import unittest
    unittest.main()
