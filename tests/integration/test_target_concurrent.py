"""target.*: many targets driven at once, and waits that block nothing."""

import ctypes
import struct
import threading
import time

from harness import ServerTestCase, fixture, SLOW


def direct_read_mbs(pid, addr, size, n=200):
    """MB/s of a process_vm_readv loop from here, the figure to compare with."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(size)

    class iovec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
    local = iovec(ctypes.cast(buf, ctypes.c_void_p), size)
    remote = iovec(addr, size)
    t0 = time.time()
    for _ in range(n):
        if libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) != size:
            raise OSError(ctypes.get_errno(), "process_vm_readv")
    return n * size / (time.time() - t0) / 1e6


class TargetConcurrent(ServerTestCase):

    def test_fifty_targets_from_fifty_threads_no_cross_talk(self):
        errors, results = [], {}

        def drive(n):
            try:
                p = self.proxy("oper")
                t = p.target.launch({"argv": [fixture("loop")], "stopAtEntry": True, "name": "c%d" % n})
                tid = t["id"]
                bp = p.target.breakpoint(tid, "tick")
                addr = str(p.target.symbol(tid, "counter"))
                vals = []
                for _ in range(5):
                    p.target.resume(tid)
                    info = p.target.wait(tid, 20000 * SLOW)
                    assert info["id"] == tid and info["name"] == "c%d" % n, info
                    assert info["stopReason"] == "breakpoint" and info["pc"] == bp["address"], info
                    vals.append(struct.unpack("<q", p.target.readMemory(tid, addr, 8))[0])
                p.target.kill(tid)
                p.target.remove(tid)
                results[n] = (t["pid"], vals)
            except Exception as e:   # reported below
                errors.append("%d: %r" % (n, e))

        threads = [threading.Thread(target=drive, args=(n,)) for n in range(50)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120 * SLOW)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 50)
        self.assertEqual(len({pid for pid, _ in results.values()}), 50)
        for pid, vals in results.values():
            self.assertEqual(vals, [vals[0] + i for i in range(5)])
        self.assertServing()

    def test_long_wait_blocks_neither_this_target_nor_others(self):
        p = self.proxy("oper")
        a = p.target.launch({"argv": [fixture("loop")]})["id"]
        b = p.target.launch({"argv": [fixture("loop")], "stopAtEntry": True})["id"]
        waiter = threading.Thread(target=lambda: self.proxy("oper").target.wait(a, 3000))
        waiter.start()
        time.sleep(0.2)
        t0 = time.time()
        self.assertEqual(p.target.info(a)["state"], "running")    # the same target
        self.assertEqual(p.target.info(b)["state"], "stopped")    # another one
        p.target.symbol(b, "main")
        self.assertLess(time.time() - t0, 1.0 * SLOW)
        waiter.join()
        for t in (a, b):
            p.target.kill(t)
            p.target.remove(t)

    def test_breakpoint_round_trip_latency(self):
        p = self.proxy("oper")
        tid = p.target.launch({"argv": [fixture("loop"), "fast"], "stopAtEntry": True})["id"]
        p.target.breakpoint(tid, "tick")
        n = 200
        t0 = time.time()
        for _ in range(n):
            p.target.resume(tid)
            p.target.wait(tid, 5000 * SLOW)
        per = (time.time() - t0) / n
        print("\nbreakpoint round trip (resume + wait over XML-RPC): %.0f us" % (per * 1e6))
        big, size = str(p.target.symbol(tid, "big")), 1 << 20
        m0 = time.time()
        for _ in range(20):
            self.assertEqual(len(p.target.readMemory(tid, big, size)), size)
        rpc = 20 * size / (time.time() - m0) / 1e6
        direct = direct_read_mbs(p.target.info(tid)["pid"], int(big), size)
        print("readMemory 1 MiB: %.0f MB/s over XML-RPC, %.0f MB/s direct process_vm_readv (%.0f%%)"
              % (rpc, direct, 100 * rpc / direct))
        self.assertLess(per, 0.05 * SLOW)
        p.target.kill(tid)


if __name__ == "__main__":
    import unittest
    unittest.main()
