"""analysis.*: the host process. SIGKILL of the host mid-run (failed,
results kept, program gone); a local process on the broker's ipc socket
pretending to be an analysis is refused; a restart with the same state dir
lists ended analyses and their results again; launch-to-running latency."""

import os
import signal
import socket
import struct
import time
import xmlrpc.client

from harness import ServerTestCase, Server, SLOW
from test_analysis_basic import make_analysis_dir, SHIPPED

ADIR = make_analysis_dir({
    "forever": ("", "#!/bin/sh\ni=0\nwhile true; do i=$((i+1)); echo \"tick=$i\" >&3; sleep 0.02; done\n", ".sh"),
})


def mp(v):
    """A minimal msgpack encoder: enough for an envelope."""
    if isinstance(v, bool):
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        return struct.pack(">Bq", 0xd3, v)
    if isinstance(v, str):
        b = v.encode()
        return struct.pack(">BB", 0xd9, len(b)) + b
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


def envelope(kind, to, user, m, p, id=0):
    return mp({"v": 1, "k": kind, "id": id, "to": to, "who": {"user": user, "role": "none"},
               "dl": 0, "m": m, "p": p})


class Zmtp:
    """A ZMTP 3.0 DEALER over a unix socket, NULL mechanism: what any local
    process could write to talk to the broker's ipc endpoint."""

    def __init__(self, path, identity):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(2)
        self.s.connect(path)
        self.s.sendall(b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"NULL" + b"\0" * 16 + b"\0" + b"\0" * 31)
        self.recv_exact(64)
        props = b""
        for k, v in ((b"Socket-Type", b"DEALER"), (b"Identity", identity.encode())):
            props += bytes([len(k)]) + k + struct.pack(">I", len(v)) + v
        body = b"\x05READY" + props
        self.s.sendall(bytes([0x04, len(body)]) + body)
        self.read_frame()  # the broker's READY

    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.s.recv(n - len(out))
            if not chunk:
                raise EOFError
            out += chunk
        return out

    def read_frame(self):
        flags = self.recv_exact(1)[0]
        size = struct.unpack(">Q", self.recv_exact(8))[0] if flags & 2 else self.recv_exact(1)[0]
        return flags, self.recv_exact(size)

    def send(self, body):
        self.s.sendall(b"\x01\x00")
        frame = bytes([0x02]) + struct.pack(">Q", len(body)) if len(body) > 255 else bytes([0, len(body)])
        self.s.sendall(frame + body)

    def close(self):
        self.s.close()


class AnalysisHost(ServerTestCase):
    server_args = ("--analysis-dir", SHIPPED, "--analysis-dir", ADIR)

    def wait_state(self, aid, states, timeout=10):
        p = self.proxy("viewer")
        end = time.time() + timeout * SLOW
        while time.time() < end:
            try:
                info = p.analysis.info(aid)
                if info["state"] in states:
                    return info
            except xmlrpc.client.Fault as e:
                self.assertIn(e.faultCode, (5,), e.faultString)  # the moment the host is found gone
            time.sleep(0.05)
        self.fail("%s never reached %s" % (aid, states))

    def test_sigkill_of_the_host_fails_the_analysis_and_keeps_results(self):
        p = self.proxy("oper")
        a = p.analysis.launch("forever", {})
        time.sleep(0.5)
        before = p.analysis.results(a["id"], 0, 10000)["results"]
        self.assertGreater(len(before), 3)
        os.kill(a["hostPid"], signal.SIGKILL)
        info = self.wait_state(a["id"], ("failed",))
        self.assertIn("analysis host", self.server.stderr())
        after = [r["data"]["tick"] for r in p.analysis.results(a["id"], 0, 10000)["results"]]
        self.assertGreaterEqual(len(after), len(before))
        self.assertEqual(after, list(range(1, len(after) + 1)))
        self.assertEqual(info["results"], len(after))
        time.sleep(0.2)
        self.assertFalse(os.path.exists("/proc/%d/cmdline" % a["pid"]) and
                         open("/proc/%d/stat" % a["pid"]).read().rsplit(")", 1)[1].split()[0] != "Z",
                         "the program outlived its host")
        self.assertFault(2, p.analysis.kill, a["id"])
        self.assertServing()

    def test_impostor_on_the_ipc_socket_is_refused(self):
        p = self.proxy("oper")
        a = p.analysis.launch("forever", {})
        aid = a["id"]
        path = os.path.join(self.server.state, "ipc", "broker")
        self.assertEqual(os.stat(os.path.dirname(path)).st_mode & 0o077, 0)
        z = Zmtp(path, "ah-0123456789abcdef")
        z.send(envelope(3, "broker", aid, "hello", [aid, "0" * 64]))
        z.send(envelope(3, "broker", aid, "hello", [aid]))
        fake = {"id": aid, "state": "failed", "results": 0, "owner": "oper"}
        z.send(envelope(2, "sup@test", aid, "analysis.state", [fake]))
        z.send(envelope(3, "broker", aid, "adopt", [aid]))
        time.sleep(0.3)
        z.close()
        self.assertRegex(self.server.stderr(), r"claiming %s.*refused" % aid)
        info = p.analysis.info(aid)
        self.assertEqual((info["state"], info["hostPid"]), ("running", a["hostPid"]))
        self.assertEqual(p.analysis.kill(aid)["state"], "killed")

    def test_launch_to_running_latency(self):
        p = self.proxy("oper")
        times = []
        for _ in range(20):
            t0 = time.time()
            a = p.analysis.launch("logfmt-report", {"count": 1})
            times.append(time.time() - t0)
            self.assertEqual(a["state"], "running")
            p.analysis.wait(a["id"], 5000 * SLOW)
        times.sort()
        print("\nlaunch-to-running: median %.1f ms, max %.1f ms over %d launches"
              % (times[len(times) // 2] * 1000, times[-1] * 1000, len(times)))


class AnalysisRestart(ServerTestCase):
    server_args = ("--analysis-dir", SHIPPED, "--analysis-dir", ADIR)

    def test_restart_with_the_same_state_dir_lists_ended_analyses_and_results(self):
        p = self.proxy("oper")
        done = p.analysis.launch("logfmt-report", {"count": 25})
        p.analysis.wait(done["id"], 10000 * SLOW)
        live = p.analysis.launch("forever", {})
        time.sleep(0.3)
        before = p.analysis.results(done["id"], 0, 100)
        rc, took = self.server.stop()  # SIGTERM ends the live analysis too
        self.assertEqual(rc, 0, self.server.stderr()[-3000:])
        self.assertLess(took, 5 * SLOW)
        second = Server(("--state-dir", self.server.state, "--analysis-dir", SHIPPED, "--analysis-dir", ADIR))
        try:
            q = second.proxy("oper")
            listed = {a["id"]: a for a in q.analysis.list()}
            self.assertEqual(listed[done["id"]]["state"], "exited")
            self.assertIn(listed[live["id"]]["state"], ("killed", "exited"))
            again = q.analysis.results(done["id"], 0, 100)
            self.assertEqual(again["results"], before["results"])
            self.assertTrue(again["done"])
            self.assertEqual(q.analysis.info(done["id"])["results"], 26)
            ticks = q.analysis.results(live["id"], 0, 10000)["results"]
            self.assertGreater(len(ticks), 0)
            out = q.analysis.readOutput(done["id"], "stdout", 0, 100)
            self.assertIn(b"25 records", out["data"])
            fresh = q.analysis.launch("logfmt-report", {"count": 1})
            self.assertNotIn(fresh["id"], listed)  # numbers are not reused
            q.analysis.wait(fresh["id"], 5000 * SLOW)
            self.assertTrue(q.analysis.remove(done["id"]))
            self.assertFault(1, q.analysis.info, done["id"])
        finally:
            rc2, _ = second.stop()
            report = second.sanitizer_report()
            second.cleanup()
        self.assertEqual(rc2, 0)
        self.assertIsNone(report)


if __name__ == "__main__":
    import unittest
    unittest.main()
