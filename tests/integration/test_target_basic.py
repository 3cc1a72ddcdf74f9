"""target.*: launch, breakpoints, memory, registers, watchpoints, I/O and
every bad input, through the real server."""

import struct
import time
import xmlrpc.client

from harness import ServerTestCase, fixture, SLOW


def i64(b):
    return struct.unpack("<q", b)[0]


class TargetBasic(ServerTestCase):

    def launch(self, name="loop", user="oper", **spec):
        spec.setdefault("argv", [fixture(name)])
        return self.proxy(user).target.launch(spec)

    def stop_at(self, p, tid, where):
        bp = p.target.breakpoint(tid, where)
        p.target.resume(tid)
        info = p.target.wait(tid, 5000 * SLOW)
        self.assertEqual(info["stopReason"], "breakpoint", info)
        return bp, info

    def test_breakpoint_hits_count_up_and_global_changes(self):
        p = self.proxy("oper")
        t = self.launch(stopAtEntry=True)
        self.assertEqual((t["state"], t["stopReason"]), ("stopped", "entry"))
        tid = t["id"]
        bp, info = self.stop_at(p, tid, "tick")
        self.assertEqual(info["pc"], bp["address"])
        self.assertEqual(bp["address"], p.target.symbol(tid, "tick"))
        addr = str(p.target.symbol(tid, "counter"))
        seen = []
        for _ in range(3):
            seen.append(i64(p.target.readMemory(tid, addr, 8)))
            p.target.resume(tid)
            self.assertEqual(p.target.wait(tid, 5000 * SLOW)["stopReason"], "breakpoint")
        self.assertEqual(seen, [seen[0], seen[0] + 1, seen[0] + 2])
        self.assertEqual(p.target.breakpoints(tid)[0]["hits"], 4)
        # readMemory never shows the int3
        code = p.target.readMemory(tid, str(bp["address"]), 1)
        self.assertNotEqual(code, b"\xcc")
        p.target.kill(tid)
        p.target.remove(tid)

    def test_write_memory_changes_output(self):
        p = self.proxy("oper")
        tid = self.launch(stopAtEntry=True)["id"]
        self.stop_at(p, tid, "tick")
        addr = str(p.target.symbol(tid, "value"))
        self.assertEqual(p.target.writeMemory(tid, addr, struct.pack("<q", 4242)), 8)
        self.assertEqual(i64(p.target.readMemory(tid, addr, 8)), 4242)
        p.target.removeBreakpoint(tid, 1)
        p.target.resume(tid)
        deadline = time.time() + 5 * SLOW
        out = b""
        while time.time() < deadline and b"value 4242" not in out:
            out = p.target.readOutput(tid, "stdout", 0, 1 << 20)["data"]
            time.sleep(0.05)
        self.assertIn(b"value 4242", out)
        p.target.kill(tid)

    def test_write_memory_patches_read_only_text_under_breakpoint(self):
        p = self.proxy("oper")
        tid = self.launch(stopAtEntry=True)["id"]
        bp, _ = self.stop_at(p, tid, "tick")
        orig = p.target.readMemory(tid, str(bp["address"]), 1)
        self.assertEqual(p.target.writeMemory(tid, str(bp["address"]), orig), 1)
        self.assertEqual(p.target.readMemory(tid, str(bp["address"]), 1), orig)
        p.target.resume(tid)
        self.assertEqual(p.target.wait(tid, 5000 * SLOW)["stopReason"], "breakpoint")
        p.target.kill(tid)

    def test_watchpoint_fires_and_slots_run_out(self):
        p = self.proxy("oper")
        tid = self.launch(stopAtEntry=True)["id"]
        addr = p.target.symbol(tid, "counter")
        wp = p.target.watchpoint(tid, str(addr), 8, "write")
        p.target.resume(tid)
        info = p.target.wait(tid, 5000 * SLOW)
        self.assertEqual(info["stopReason"], "watchpoint", info)
        kinds = [b["kind"] for b in p.target.breakpoints(tid)]
        self.assertEqual(kinds, ["watchpoint"])
        self.assertGreaterEqual(p.target.breakpoints(tid)[0]["hits"], 1)
        for i in range(3):
            p.target.watchpoint(tid, str(addr + 8 * (i + 1)), 8, "readwrite")
        self.assertFault(9, p.target.watchpoint, tid, str(addr + 64), 8, "write")
        self.assertFault(-32602, p.target.watchpoint, tid, str(addr + 1), 8, "write")
        p.target.removeBreakpoint(tid, wp["bp"])
        p.target.kill(tid)

    def test_step_moves_pc_and_set_registers_takes_effect(self):
        p = self.proxy("oper")
        tid = self.launch(stopAtEntry=True)["id"]
        bp, info = self.stop_at(p, tid, "tick")
        regs = p.target.registers(tid)
        self.assertEqual(regs["rip"], bp["address"])
        for name in ("rax", "rsp", "r15", "eflags", "fs_base", "gs_base", "orig_rax", "cs"):
            self.assertIn(name, regs)
        step = p.target.step(tid)
        self.assertEqual(step["stopReason"], "step")
        self.assertNotEqual(step["pc"], bp["address"])
        new = p.target.setRegisters(tid, {"rbx": "0x1234", "r12": 77})
        self.assertEqual((new["rbx"], new["r12"]), (0x1234, 77))
        self.assertEqual(p.target.registers(tid)["rbx"], 0x1234)
        # rip back onto the breakpoint: the next step steps over its int3
        # again and lands where the first one did
        p.target.setRegisters(tid, {"rip": str(bp["address"])})
        self.assertEqual(p.target.info(tid)["pc"], bp["address"])
        self.assertEqual(p.target.step(tid)["pc"], step["pc"])
        self.assertFault(-32602, p.target.setRegisters, tid, {"xyz": 1})
        p.target.kill(tid)

    def test_segv_stops_with_signal_11_then_killed(self):
        p = self.proxy("oper")
        tid = self.launch("segv")["id"]
        info = p.target.wait(tid, 5000 * SLOW)
        self.assertEqual((info["state"], info["stopReason"], info["signal"]), ("stopped", "signal", 11))
        p.target.resume(tid)
        info = p.target.wait(tid, 5000 * SLOW)
        self.assertEqual((info["state"], info["signal"]), ("killed", 11))
        self.assertNotIn("exitCode", info)
        p.target.remove(tid)
        self.assertFault(1, p.target.info, tid)

    def test_exit_codes(self):
        p = self.proxy("oper")
        for code in (0, 3, 255):
            tid = self.launch("exitcode", argv=[fixture("exitcode"), str(code)])["id"]
            info = p.target.wait(tid, 5000 * SLOW)
            self.assertEqual((info["state"], info["exitCode"]), ("exited", code))
            self.assertTrue(p.target.remove(tid))

    def test_kill_and_remove(self):
        p = self.proxy("oper")
        tid = self.launch()["id"]
        self.assertFault(2, p.target.remove, tid)
        info = p.target.kill(tid)
        self.assertEqual((info["state"], info["signal"]), ("killed", 9))
        self.assertFault(2, p.target.kill, tid)
        self.assertTrue(p.target.remove(tid))
        self.assertFault(1, p.target.info, tid)

    def test_pause_resume_and_wrong_state(self):
        p = self.proxy("oper")
        tid = self.launch()["id"]
        self.assertFault(2, p.target.resume, tid)
        self.assertFault(2, p.target.step, tid)
        self.assertFault(2, p.target.registers, tid)
        info = p.target.pause(tid)
        self.assertEqual((info["state"], info["stopReason"]), ("stopped", "pause"))
        self.assertFault(2, p.target.pause, tid)
        self.assertEqual(p.target.resume(tid)["state"], "running")
        p.target.kill(tid)

    def test_signal_by_name_is_delivered_at_once(self):
        p = self.proxy("oper")
        tid = self.launch()["id"]
        info = p.target.signal(tid, "SIGTERM")
        info = p.target.wait(tid, 5000 * SLOW)
        self.assertEqual((info["state"], info["signal"]), ("killed", 15))
        self.assertFault(-32602, p.target.signal, self.launch()["id"], "SIGNOPE")

    def test_stdin_echo_and_output_offsets(self):
        p = self.proxy("oper")
        tid = self.launch("echo")["id"]
        self.assertEqual(p.target.writeInput(tid, "hello "), 6)
        self.assertEqual(p.target.writeInput(tid, xmlrpc.client.Binary(b"world\n")), 6)
        p.target.closeInput(tid)
        info = p.target.wait(tid, 5000 * SLOW)
        self.assertEqual(info["exitCode"], 0)
        deadline = time.time() + 5 * SLOW
        while True:
            out = p.target.readOutput(tid, "stdout", 0, 100)
            if out["eof"] or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(out["data"], b"hello world\n")
        self.assertTrue(out["eof"])
        self.assertEqual(out["next"], 12)
        tail = p.target.readOutput(tid, "stdout", -1, 6)
        self.assertEqual((tail["data"], tail["offset"]), (b"world\n", 6))
        self.assertFault(-32602, p.target.readOutput, tid, "stdout", 0, -5)
        self.assertFault(-32602, p.target.readOutput, tid, "stdnothing", 0, 5)

    def test_events_log(self):
        p = self.proxy("oper")
        tid = self.launch("exitcode", argv=[fixture("exitcode"), "4"], stopAtEntry=True)["id"]
        p.target.resume(tid)
        p.target.wait(tid, 5000 * SLOW)
        ev = p.target.events(tid, 0, 1000)
        types = [e["type"] for e in ev["events"]]
        self.assertEqual(types, ["stopped", "resumed", "exited"])
        self.assertEqual([e["seq"] for e in ev["events"]], [1, 2, 3])
        self.assertEqual(ev["next"], 3)
        self.assertEqual(ev["events"][2]["exitCode"], 4)
        t0 = time.time()
        self.assertEqual(p.target.events(tid, 3, 300)["events"], [])
        self.assertGreaterEqual(time.time() - t0, 0.25)

    def test_symbols_of_shared_library(self):
        p = self.proxy("oper")
        tid = self.launch(stopAtEntry=True)["id"]
        self.stop_at(p, tid, "tick")
        addr = p.target.symbol(tid, "libc.so.6:malloc")
        sym = p.target.symbolize(tid, str(addr + 1))
        self.assertEqual(sym["offset"], 1)
        self.assertIn("libc", sym["library"])
        main = p.target.symbolize(tid, str(p.target.symbol(tid, "main")))
        self.assertEqual((main["symbol"], main["offset"]), ("main", 0))
        self.assertFault(1, p.target.symbol, tid, "no_such_symbol_here")
        maps = p.target.maps(tid)
        self.assertTrue(any(m["path"].endswith("/loop") for m in maps))
        p.target.kill(tid)

    def test_bad_inputs(self):
        p = self.proxy("oper")
        self.assertFault(1, p.target.info, "t999999@test")
        self.assertFault(6, p.target.launch, {"argv": ["/no/such/program"]})
        self.assertFault(6, p.target.launch, {"argv": ["no-such-program-on-path"]})
        self.assertFault(6, p.target.launch, {"argv": [fixture("loop")], "cwd": "/no/such/dir"})
        self.assertFault(6, p.target.launch, {"argv": ["/etc/passwd"]})
        self.assertFault(-32602, p.target.launch, {"argv": []})
        self.assertFault(-32602, p.target.launch, {"argv": "loop"})
        self.assertFault(3, p.target.launch, {"argv": [fixture("loop")], "user": "root"})
        tid = self.launch(stopAtEntry=True)["id"]
        self.assertFault(7, p.target.readMemory, tid, "0x10", 16)
        self.assertFault(7, p.target.writeMemory, tid, "0x10", b"xx")
        self.assertFault(-32602, p.target.readMemory, tid, "0x10", 2**31 - 1)
        self.assertFault(-32602, p.target.readMemory, tid, "0x10", -1)
        self.assertFault(-32602, p.target.registers, tid, "x")
        self.assertFault(1, p.target.removeBreakpoint, tid, 42)
        f = self.assertFault(7, p.target.readMemory, tid, "0x1000", 4)
        self.assertIn(tid, f.faultString)
        self.assertFault(3, self.proxy("oper2").target.pause, tid)
        self.assertFault(3, self.proxy("oper2").target.kill, tid)
        self.assertFault(3, self.proxy("viewer").target.pause, tid)
        self.assertEqual(self.proxy("viewer").target.info(tid)["id"], tid)
        self.assertEqual(self.proxy("admin").target.info(tid)["id"], tid)
        p.target.kill(tid)
        self.assertServing()


if __name__ == "__main__":
    import unittest
    unittest.main()
