"""Hostile parameters to the methods that touch memory and files (issue 5's
battery): negative and huge lengths and addresses in target.readMemory,
path traversal in analysis support-file names and analysis names. Each
part runs only when the server has those methods (targets and analyses
are built by other engineers, concurrently); test_target_basic and
test_analysis_basic hold the simple cases (-1, 2**31-1, "../x", "a/b").

READ_CASES / FILE_NAMES / ANALYSIS_NAMES are also run by test_hostile_rss."""

import os
import unittest
import xmlrpc.client

from harness import ServerTestCase, fixture

SHIPPED = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../analyses"))
MAX_READ = 1 << 20

# (address XML, length XML, fault code) for readMemory(tid, address, length)
# on a stopped target; lengths are sent as <i8> where Python could not.
READ_CASES = [
    ("<string>0x10</string>", "<int>-1</int>", -32602),
    ("<string>0x10</string>", "<i8>-9223372036854775808</i8>", -32602),
    ("<string>0x10</string>", "<i8>9223372036854775807</i8>", -32602),
    ("<string>0x10</string>", "<i8>4294967296</i8>", -32602),        # 2^32: would truncate to 0
    ("<string>0x10</string>", "<i8>%d</i8>" % (MAX_READ + 1), -32602),
    ("<string>0x10</string>", "<int>%d</int>" % MAX_READ, 7),          # allowed, but unmapped
    ("<string>0x10</string>", "<string>16</string>", -32602),
    ("<string>0x10</string>", "<double>16.0</double>", -32602),
    ("<string>0x10</string>", "<nil/>", -32602),
    ("<string>0x</string>", "<int>4</int>", -32602),
    ("<string>-1</string>", "<int>4</int>", -32602),
    ("<string>0x1g</string>", "<int>4</int>", -32602),
    ("<string>18446744073709551616</string>", "<int>4</int>", -32602),  # 2^64
    ("<string>0xffffffffffffffff</string>", "<int>16</int>", 7),      # wraps past the top
    ("<i8>-1</i8>", "<int>16</int>", 7),                              # the same, as i8
    ("<string>0xfffffffffffffff0</string>", "<int>%d</int>" % MAX_READ, 7),
]

# support-file names that must be refused (-32602) before anything is written
BAD_FILE_NAMES = ["", "/etc/passwd", "/", "a/../b", "..", "../../../../tmp/x", "x/", "/tmp/corral-evil",
                  "..hidden", "a..b", "..\\x", "x" * 256, "./x"]
# odd but legal names: written inside the run's work dir, nowhere else
ODD_FILE_NAMES = ["\u2215etc\u2215passwd", "%2e%2e%2fx", "x" * 255, "-rf", " sp ace "]

# analysis names that are no analysis (fault 1) and must start nothing
BAD_ANALYSIS_NAMES = ["../logfmt-report", "../../../../bin/sh", "/bin/sh", "logfmt-report/../logfmt-report",
                      "..", ".", "", "logfmt-report\n", "logfmt-report/", "%2e%2e/logfmt-report",
                      SHIPPED + "/logfmt-report", SHIPPED + "/logfmt-report.sh"]


def call_xml(method, *values_xml):
    return ("<?xml version='1.0'?><methodCall><methodName>%s</methodName><params>%s</params></methodCall>"
            % (method, "".join("<param><value>%s</value></param>" % v for v in values_xml))).encode()


class HostileReadMemory(ServerTestCase):
    server_args = ("--max-read", str(MAX_READ))

    def setUp(self):
        if "target.readMemory" not in self.proxy().system.listMethods():
            self.skipTest("target.readMemory is not built")

    def test_hostile_lengths_and_addresses(self):
        p = self.proxy("oper")
        tid = p.target.launch({"argv": [fixture("loop")], "stopAtEntry": True})["id"]
        try:
            for addr, length, code in READ_CASES:
                with self.subTest(addr=addr, length=length):
                    f = self.server.fault_of(user="oper", body=call_xml(
                        "target.readMemory", "<string>%s</string>" % tid, addr, length))
                    self.assertIsNotNone(f)
                    self.assertEqual(f.faultCode, code, f.faultString)
            # a zero length is an empty read, not an error
            pc = p.target.info(tid)["pc"]
            self.assertEqual(p.target.readMemory(tid, str(pc), 0), b"")
            # the target is unharmed and still readable
            self.assertEqual(len(p.target.readMemory(tid, str(pc), 8)), 8)
        finally:
            p.target.kill(tid)
        self.assertServing()


class HostileAnalysisNames(ServerTestCase):
    server_args = ("--analysis-dir", SHIPPED)

    def setUp(self):
        if "analysis.launch" not in self.proxy().system.listMethods():
            self.skipTest("analysis.launch is not built")

    def count(self):
        return len(self.proxy().analysis.list())

    def test_traversal_in_support_file_names_is_refused(self):
        p = self.proxy("oper")
        before = self.count()
        for name in BAD_FILE_NAMES:
            with self.subTest(name=name):
                f = self.assertFault(-32602, p.analysis.launch, "logfmt-report", {"count": 1},
                                     {"files": {name: b"evil"}})
                self.assertIn("file", f.faultString)
        self.assertEqual(self.count(), before)   # nothing was started
        self.assertFalse(os.path.exists("/tmp/corral-evil"))
        self.assertServing()

    def test_odd_legal_file_names_stay_in_the_work_dir(self):
        p = self.proxy("oper")
        a = p.analysis.launch("logfmt-report", {"count": 1}, {"files": {n: n.encode() for n in ODD_FILE_NAMES}})
        self.assertIn(p.analysis.wait(a["id"], 10000)["state"], ("exited", "killed", "failed"))
        work = os.path.join(self.server.state, "runs", a["id"], "work")
        for n in ODD_FILE_NAMES:
            with open(os.path.join(work, n), "rb") as f:
                self.assertEqual(f.read(), n.encode())
        self.assertFalse(os.path.exists(os.path.join(work, "..", "x")))

    def test_traversal_in_analysis_names_is_no_such_analysis(self):
        p = self.proxy("oper")
        before = self.count()
        for name in BAD_ANALYSIS_NAMES:
            with self.subTest(name=name):
                self.assertFault(1, p.analysis.launch, name, {})
        self.assertEqual(self.count(), before)
        self.assertServing()


if __name__ == "__main__":
    unittest.main()
