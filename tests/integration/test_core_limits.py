"""The limits at their edge: a full calls table is fault 9 (nothing done), a
call past its deadline is fault 4, an unknown actor is fault 1 at once, and
a long wait on one target never holds up anything else."""

import os
import signal
import threading
import time
import unittest
import xmlrpc.client

from harness import SLOW, ServerTestCase, fixture


class Limits(ServerTestCase):
    # Two calls in flight at most.
    server_args = ("--max-inflight", "2")

    def launch(self):
        return self.proxy("oper").target.launch({"argv": [fixture("loop")]})["id"]

    def test_unknown_actor_is_fault_1_at_once(self):
        t0 = time.time()
        f = self.assertFault(1, self.proxy().target.info, "t999@test")
        self.assertIn("t999@test", f.faultString)
        self.assertFault(1, self.proxy().target.info, "t1@othernode")
        self.assertLess(time.time() - t0, 1)

    def test_full_calls_table_is_fault_9_and_recovers(self):
        tid = self.launch()
        results = []

        def wait():
            try:
                results.append(self.proxy("oper").target.wait(tid, 250)["state"])
            except xmlrpc.client.Fault as f:
                results.append(f.faultCode)

        waiters = [threading.Thread(target=wait) for _ in range(2)]
        for w in waiters:
            w.start()
        time.sleep(0.1)
        # both slots are taken by the waits: the next call is refused, not queued
        f = self.assertFault(9, self.proxy().server.echo, "busy?")
        self.assertIn("retry", f.faultString)
        for w in waiters:
            w.join(10 * SLOW)
        self.assertEqual(len(results), 2)
        self.assertEqual(self.proxy().server.echo("free again"), "free again")
        self.proxy("oper").target.kill(tid)

    def test_multicall_counts_against_the_table(self):
        calls = [{"methodName": "server.echo", "params": [i]} for i in range(5)]
        got = self.proxy().system.multicall(calls)
        # at most two sub-calls fit at once; the rest say busy, each in its place
        self.assertEqual([g for g in got if isinstance(g, list)], [[0], [1]])
        self.assertTrue(all(g["faultCode"] == 9 for g in got[2:]))


class FullQueues(ServerTestCase):
    """ZeroMQ queues of 2 messages: a burst overflows them, and every call
    still gets an answer: its result, or fault 9 saying nothing was done."""
    server_args = ("--sndhwm", "2")

    def test_burst_into_full_queues_is_answered_with_fault_9(self):
        calls = [{"methodName": "server.echo", "params": [i]} for i in range(500)]
        t0 = time.time()
        got = self.proxy().system.multicall(calls)
        # answered at once: no reply was dropped on a full queue (that showed
        # as fault 4 at the 30 s deadline)
        self.assertLess(time.time() - t0, 5 * SLOW)
        self.assertEqual(len(got), 500)
        ok = [g[0] for g in got if isinstance(g, list)]
        busy = [g for g in got if isinstance(g, dict)]
        self.assertTrue(ok, "some calls got through")
        self.assertTrue(busy, "some calls met a full queue")
        self.assertTrue(all(b["faultCode"] == 9 for b in busy), busy[:3])
        self.assertEqual(ok, sorted(ok))  # what got through kept its order
        self.assertServing()


class SlowAndDeadActors(ServerTestCase):
    """An analysis host is a process: stopped, it is slow (fault 4 at the
    call's deadline); killed, it is gone (fault 5 for the calls in flight,
    noticed within 3 s by heartbeats)."""
    server_args = ("--call-timeout-ms", "1000")

    def setUp(self):
        if "analysis.launch" not in self.proxy().system.listMethods():
            self.skipTest("analysis.* not built")

    def start(self):
        a = self.proxy("oper").analysis.launch("logfmt-report", {"count": 1000, "delay": 1.0})
        deadline = time.time() + 10 * SLOW
        while a["state"] == "starting" and time.time() < deadline:
            time.sleep(0.05)
            a = self.proxy("oper").analysis.info(a["id"])
        return a

    def test_stopped_actor_is_fault_4_then_served_again(self):
        a = self.start()
        os.kill(a["hostPid"], signal.SIGSTOP)
        try:
            t0 = time.time()
            f = self.assertFault(4, self.proxy("oper").analysis.info, a["id"])
            self.assertIn("timed out", f.faultString)
            self.assertLess(time.time() - t0, 3 * SLOW)
            self.assertServing()
        finally:
            os.kill(a["hostPid"], signal.SIGCONT)
        self.assertEqual(self.proxy("oper").analysis.info(a["id"])["id"], a["id"])
        self.proxy("oper").analysis.kill(a["id"])

    def test_killed_actor_answers_calls_in_flight_with_fault_5(self):
        a = self.start()
        got = []

        def wait():
            try:
                got.append(self.proxy("oper").analysis.wait(a["id"], 20000)["state"])
            except xmlrpc.client.Fault as f:
                got.append(f.faultCode)

        w = threading.Thread(target=wait)
        w.start()
        time.sleep(0.3)
        os.kill(a["hostPid"], signal.SIGKILL)
        t0 = time.time()
        w.join(10 * SLOW)
        self.assertLess(time.time() - t0, 4 * SLOW)
        self.assertEqual(got, [5])
        deadline = time.time() + 5 * SLOW
        while time.time() < deadline and self.proxy("oper").analysis.info(a["id"])["state"] != "failed":
            time.sleep(0.1)
        self.assertEqual(self.proxy("oper").analysis.info(a["id"])["state"], "failed")
        self.assertServing()


if __name__ == "__main__":
    unittest.main()
