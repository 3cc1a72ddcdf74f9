"""Authorization everywhere (issue 5): every method in the method table has
a least role, and a caller below it is refused with fault 3 (directly and
inside system.multicall); a target belongs to the operator who launched it
(admins and that operator control it, another operator gets fault 3, and
viewers may read it); an analysis acts for its launcher on the targets
named in its parameters only.

There is no API for a method's role, so the expectation is read from the
table itself (core/methods.c and actors/*_methods.inc), and a test checks
that the table and system.listMethods name the same methods."""

import glob
import os
import re
import tempfile
import time
import unittest
import xmlrpc.client

from harness import ServerTestCase, fixture, SLOW

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
ROLES = {"VIEWER": 1, "OPERATOR": 2, "ADMIN": 3}
USER_OF_ROLE = {1: "viewer", 2: "oper", 3: "admin"}
ROW = re.compile(r'CORRAL_METHOD\(\s*"([^"]+)"\s*,\s*CORRAL_ROLE_(\w+)\s*,\s*CORRAL_ROUTE_(\w+)')


def method_table():
    """{name: (least role, route)} from the method table's sources."""
    table = {}
    for path in [os.path.join(SRC, "core/methods.c")] + sorted(glob.glob(os.path.join(SRC, "actors/*_methods.inc"))):
        with open(path) as f:
            text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)   # rows named in comments are not rows
        for name, role, route in ROW.findall(text):
            table[name] = (ROLES[role], route)
    return table


TABLE = method_table()

# Plausible arguments for methods whose parameters are checked before
# ownership could be (so that a refusal is about the caller, not the call).
ARGS = {
    "target.breakpoint": lambda t: (t, "main"),
    "target.enableBreakpoint": lambda t: (t, 1, True),
    "target.removeBreakpoint": lambda t: (t, 1),
    "target.signal": lambda t: (t, "SIGCONT"),
    "target.setRegisters": lambda t: (t, {"rbx": 1}),
    "target.watchpoint": lambda t: (t, "0x1000", 8, "write"),
    "target.writeInput": lambda t: (t, b"x"),
    "target.writeMemory": lambda t: (t, "0x1000", b"x"),
    "target.readMemory": lambda t: (t, "0x1000", 1),
    "target.readOutput": lambda t: (t, "stdout", 0, 10),
    "target.events": lambda t: (t, 0, 0),
    "target.wait": lambda t: (t, 0),
    "target.symbol": lambda t: (t, "main"),
    "target.symbolize": lambda t: (t, "0x1000"),
    "analysis.signal": lambda a: (a, "SIGCONT"),
    "analysis.report": lambda a: (a, {"x": 1}),
    "analysis.writeInput": lambda a: (a, b"x"),
    "analysis.results": lambda a: (a, 0, 10),
    "analysis.readOutput": lambda a: (a, "stdout", 0, 10),
    "analysis.wait": lambda a: (a, 0),
}


def args_for(name, ident):
    return ARGS.get(name, lambda i: (i,))(ident)


def fault_code(fn, *args):
    try:
        fn(*args)
    except xmlrpc.client.Fault as f:
        return f.faultCode
    return 0


class RoleTable(ServerTestCase):

    def test_the_table_and_list_methods_name_the_same_methods(self):
        listed = set(self.proxy().system.listMethods())
        self.assertTrue(TABLE, "no CORRAL_METHOD rows found under %s" % SRC)
        self.assertEqual(listed - set(TABLE), set(), "listed but not in the table: no role known")
        self.assertEqual(set(TABLE) - listed, set(), "in the table but not listed")

    def test_every_method_refuses_a_caller_below_its_role(self):
        refused = 0
        for name, (role, _) in sorted(TABLE.items()):
            for below in range(1, role):
                with self.subTest(method=name, caller=USER_OF_ROLE[below]):
                    p = self.proxy(USER_OF_ROLE[below])
                    f = self.assertFault(3, getattr(p, name), "t1@test")
                    self.assertIn("permission denied", f.faultString)
                    refused += 1
        self.assertGreater(refused, 0)
        self.assertServing()

    def test_every_method_lets_its_own_role_past_the_role_check(self):
        for name, (role, _) in sorted(TABLE.items()):
            if name in ("system.multicall",):
                continue
            with self.subTest(method=name):
                code = fault_code(getattr(self.proxy(USER_OF_ROLE[role]), name), *args_for(name, "t999999@test"))
                self.assertNotEqual(code, 3, name)

    def test_multicall_does_not_lift_the_role_check(self):
        calls = [{"methodName": n, "params": ["t1@test"]} for n, (r, _) in sorted(TABLE.items()) if r > 1]
        if not calls:
            self.skipTest("no method above viewer is built")
        got = self.proxy("viewer").system.multicall(calls)
        self.assertEqual([g.get("faultCode") if isinstance(g, dict) else g for g in got], [3] * len(calls))


def analysis_dir():
    """An analysis that tries to control its target and another: it reports
    the fault code (0 for success) of each attempt."""
    d = tempfile.mkdtemp(prefix="corral-authz-")
    os.chmod(d, 0o755)
    prog = os.path.join(d, "control.py")
    with open(prog, "w") as f:
        f.write("#!/usr/bin/env python3\n"
                "import os, urllib.parse, xmlrpc.client\n"
                "u = urllib.parse.urlsplit(os.environ['CORRAL_URL'])\n"
                "me = os.environ['CORRAL_ANALYSIS']\n"
                "p = xmlrpc.client.ServerProxy('%s://%s:%s@%s%s' % (u.scheme, urllib.parse.quote(me, safe=''),"
                " os.environ['CORRAL_TOKEN'], u.netloc, u.path), allow_none=True)\n"
                "def code(f, *a):\n"
                "    try:\n        f(*a)\n        return 0\n"
                "    except xmlrpc.client.Fault as e:\n        return e.faultCode\n"
                "t, other = os.environ['CORRAL_PARAM_T'], os.environ['CORRAL_PARAM_OTHER']\n"
                "r = {'pause_mine': code(p.target.pause, t), 'resume_mine': code(p.target.resume, t),\n"
                "     'pause_other': code(p.target.pause, other), 'kill_other': code(p.target.kill, other)}\n"
                "p.analysis.report(me, r)\n")
    os.chmod(prog, 0o755)
    with open(os.path.join(d, "control.xml"), "w") as f:
        f.write('<analysis name="control" version="1"><description>authz</description>'
                '<program>control.py</program><param name="t" type="target" required="true">t</param>'
                '<param name="other" type="string" required="true">o</param></analysis>')
    return d


class Ownership(ServerTestCase):
    server_args = ("--analysis-dir", analysis_dir())

    def setUp(self):
        if "target.launch" not in self.proxy().system.listMethods():
            self.skipTest("target.launch is not built")

    def launch(self, user):
        return self.proxy(user).target.launch({"argv": [fixture("loop")]})["id"]

    def test_another_operator_controls_nothing_of_it(self):
        tid = self.launch("oper")
        try:
            for name, (role, route) in sorted(TABLE.items()):
                if not name.startswith("target.") or route != "ENTITY":
                    continue
                with self.subTest(method=name):
                    code = fault_code(getattr(self.proxy("oper2"), name), *args_for(name, tid))
                    if role >= 2:
                        self.assertEqual(code, 3, name)
                    else:   # reading is every role's
                        self.assertNotEqual(code, 3, name)
            self.assertEqual(self.proxy("oper").target.info(tid)["state"], "running")
        finally:
            self.proxy("admin").target.kill(tid)

    def test_owner_and_admin_control_it(self):
        tid = self.launch("oper")
        self.assertEqual(self.proxy("admin").target.pause(tid)["state"], "stopped")
        self.assertEqual(self.proxy("oper").target.resume(tid, 0)["state"], "running")
        self.assertEqual(self.proxy("oper").target.pause(tid)["state"], "stopped")
        self.assertEqual(self.proxy("admin").target.resume(tid, 0)["state"], "running")
        self.assertEqual(self.proxy("viewer").target.info(tid)["id"], tid)
        self.assertFault(3, self.proxy("viewer").target.kill, tid)
        self.assertEqual(self.proxy("oper").target.kill(tid)["state"], "killed")
        self.assertFault(3, self.proxy("oper2").target.remove, tid)
        self.assertTrue(self.proxy("admin").target.remove(tid))

    def test_admin_only_launch_options_are_refused_to_operators(self):
        for user in ("nobody", "root"):
            self.assertFault(3, self.proxy("oper").target.launch, {"argv": [fixture("loop")], "user": user})

    def test_an_analysis_controls_its_launchers_target_and_nothing_else(self):
        if "analysis.launch" not in self.proxy().system.listMethods():
            self.skipTest("analysis.launch is not built")
        mine, other = self.launch("oper"), self.launch("oper2")
        try:
            a = self.proxy("oper").analysis.launch("control", {"t": mine, "other": other})
            info = self.proxy("oper").analysis.wait(a["id"], 20000 * SLOW)
            self.assertEqual(info["state"], "exited", info)
            res = self.proxy("viewer").analysis.results(a["id"], 0, 10)["results"]
            self.assertEqual(len(res), 1, self.proxy().analysis.readOutput(a["id"], "stderr", 0, 4000))
            self.assertEqual(res[0]["data"], {"pause_mine": 0, "resume_mine": 0,
                                              "pause_other": 3, "kill_other": 3})
            self.assertEqual(self.proxy("oper2").target.info(other)["state"], "running")
            # naming another operator's target as the target parameter does
            # not lend the analysis that operator's rights
            a = self.proxy("oper").analysis.launch("control", {"t": other, "other": other})
            info = self.proxy("oper").analysis.wait(a["id"], 20000 * SLOW)
            res = self.proxy("viewer").analysis.results(a["id"], 0, 10)["results"]
            self.assertEqual(res[0]["data"]["pause_mine"], 3, res)
            time.sleep(0.1)
            self.assertEqual(self.proxy("oper2").target.info(other)["state"], "running")
        finally:
            for t in (mine, other):
                self.proxy("admin").target.kill(t)


if __name__ == "__main__":
    unittest.main()
