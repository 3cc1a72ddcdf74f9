"""analysis.*: the catalog, the shipped sh analysis, parameters, control
(kill, pause, resume, signal), crashes, I/O, tokens and broken descriptors,
through the real server."""

import atexit
import os
import shutil
import signal
import stat
import tempfile
import time
import xmlrpc.client

from harness import ServerTestCase, SLOW

SHIPPED = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../analyses"))


def make_analysis_dir(scripts, broken=()):
    """A temporary analysis dir: scripts is {name: (params_xml, program_text, ext)};
    broken is a list of (file name, text) written as they are. The dir and its
    programs are readable by the run-as user (nobody)."""
    d = tempfile.mkdtemp(prefix="corral-analyses-")
    atexit.register(shutil.rmtree, d, True)
    os.chmod(d, 0o755)
    for name, (params, text, ext) in scripts.items():
        prog = os.path.join(d, name + ext)
        with open(prog, "w") as f:
            f.write(text)
        os.chmod(prog, 0o755)
        with open(os.path.join(d, name + ".xml"), "w") as f:
            f.write('<analysis name="%s" version="1"><description>test %s</description>'
                    '<program>%s</program>%s</analysis>' % (name, name, name + ext, params))
    for fname, text in broken:
        with open(os.path.join(d, fname), "w") as f:
            f.write(text)
    return d


TEST_ANALYSES = {
    "crash": ("", "#!/bin/sh\necho partial=1 >&3\nkill -SEGV $$\n", ".sh"),
    "forever": ("", "#!/bin/sh\ni=0\nwhile true; do i=$((i+1)); echo \"tick=$i\" >&3; sleep 0.05; done\n", ".sh"),
    "exit3": ("", "#!/bin/sh\necho bye >&2\nexit 3\n", ".sh"),
    "trapper": ("", "#!/bin/sh\ntrap 'echo caught=TERM >&3; exit 0' TERM\nwhile true; do sleep 0.05; done\n", ".sh"),
    "env": ('<param name="flag" type="bool" flag="--flag" default="false">f</param>'
            '<param name="n" type="int" required="true">n</param>'
            '<param name="x" type="double" default="1.5">x</param>'
            '<param name="t" type="target">t</param>',
            "#!/bin/sh\nread line\n"
            "printf 'user=%s cwd=\"%s\" args=\"%s\" n=%s x=%s t=\"%s\" tgt=\"%s\" me=%s line=\"%s\" file=\"%s\" url=\"%s\"\\n' "
            "\"$(id -un)\" \"$(pwd)\" \"$*\" \"$CORRAL_PARAM_N\" \"$CORRAL_PARAM_X\" \"$CORRAL_PARAM_T\" "
            "\"$CORRAL_TARGET\" \"$CORRAL_ANALYSIS\" \"$line\" \"$(cat support.txt 2>/dev/null)\" \"$CORRAL_URL\" >&3\n"
            "echo 'garbage \"unterminated' >&3\necho 'ok=1' >&3\n",
            ".sh"),
    "echo": ("", "#!/bin/sh\nwhile read line; do echo \"got $line\"; done\necho done >&2\n", ".sh"),
    "tokens": ('<param name="t" type="target" required="true">t</param>',
               "#!/usr/bin/env python3\n"
               "import os, urllib.parse, xmlrpc.client\n"
               "u = urllib.parse.urlsplit(os.environ['CORRAL_URL'])\n"
               "me = os.environ['CORRAL_ANALYSIS']\n"
               "url = '%s://%s:%s@%s%s' % (u.scheme, urllib.parse.quote(me, safe=''), os.environ['CORRAL_TOKEN'], u.netloc, u.path)\n"
               "p = xmlrpc.client.ServerProxy(url, allow_none=True)\n"
               "def code(f, *a):\n"
               "    try:\n        f(*a)\n        return 0\n"
               "    except xmlrpc.client.Fault as e:\n        return e.faultCode\n"
               "r = {'own_info': code(p.analysis.info, me),\n"
               "     'my_target': code(p.target.info, os.environ['CORRAL_TARGET']),\n"
               "     'other_target': code(p.target.info, 't999@test'),\n"
               "     'launch': code(p.analysis.launch, 'crash', {}),\n"
               "     'list': code(p.analysis.list),\n"
               "     'echo': code(p.server.echo, 'x')}\n"
               "p.analysis.report(me, r)\n"
               "open('token', 'w').write(os.environ['CORRAL_TOKEN'])\n",
               ".py"),
}

BROKEN = [
    ("noexec.xml", "<analysis name='noexec' version='1'><program>no-such-program-here</program></analysis>"),
    ("bad-notxml.xml", "<analysis name='x' version='1'><program>"),
    ("bad-schema.xml", "<analysis name='y' version='1'><param name='n' type='weird'/></analysis>"),
    ("bad-entity.xml", "<!DOCTYPE a [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
                       "<analysis name='z' version='1'><program>&e;</program></analysis>"),
    ("bad-default.xml", "<analysis name='w' version='1'><program>p</program>"
                        "<param name='n' type='int' default='abc'/></analysis>"),
]

ADIR = make_analysis_dir(TEST_ANALYSES, BROKEN)


class AnalysisBasic(ServerTestCase):
    server_args = ("--analysis-dir", SHIPPED, "--analysis-dir", ADIR)

    def launch(self, name, params=None, user="oper", options=None):
        p = self.proxy(user)
        if options is None:
            return p.analysis.launch(name, params or {})
        return p.analysis.launch(name, params or {}, options)

    def wait_end(self, aid, user="oper"):
        info = self.proxy(user).analysis.wait(aid, 10000 * SLOW)
        self.assertIn(info["state"], ("exited", "killed", "failed"), info)
        return info

    def results(self, aid):
        return [r["data"] for r in self.proxy("viewer").analysis.results(aid, 0, 10000)["results"]]

    def test_catalog_lists_shipped_and_test_analyses_with_params(self):
        cat = {a["name"]: a for a in self.proxy("viewer").analysis.catalog()}
        self.assertIn("logfmt-report", cat)
        self.assertIn("breakpoint-count", cat)
        lr = cat["logfmt-report"]
        self.assertEqual(lr["version"], "1.0")
        count = [p for p in lr["params"] if p["name"] == "count"][0]
        self.assertEqual((count["type"], count["required"], count["default"]), ("int", False, 10))
        self.assertTrue(count["help"])
        bc = [p for p in cat["breakpoint-count"]["params"] if p["name"] == "target"][0]
        self.assertEqual((bc["type"], bc["required"]), ("target", True))

    def test_broken_descriptors_are_left_out_and_logged_with_file_and_line(self):
        names = {a["name"] for a in self.proxy("viewer").analysis.catalog()}
        for bad in ("x", "y", "z", "w"):
            self.assertNotIn(bad, names)
        err = self.server.stderr()
        for fname, _ in BROKEN[1:]:
            self.assertRegex(err, r"descriptor .*%s:\d+: left out: " % fname)
        self.assertServing()

    def test_shipped_sh_analysis_reports_logfmt_results(self):
        a = self.launch("logfmt-report", {"count": 7, "message": 'two "quoted" words'})
        self.assertEqual(a["state"], "running")
        self.assertRegex(a["id"], r"^a\d+@test$")
        self.assertGreater(a["pid"], 0)
        self.assertGreater(a["hostPid"], 0)
        self.assertNotEqual(a["pid"], a["hostPid"])
        info = self.wait_end(a["id"])
        self.assertEqual((info["state"], info["exitCode"], info["results"]), ("exited", 0, 8))
        data = self.results(a["id"])
        self.assertEqual(data[0], {"n": 1, "note": 'two "quoted" words', "ratio": 0.5})
        self.assertEqual([d["n"] for d in data[:7]], list(range(1, 8)))
        self.assertEqual(data[7], {"summary": "true", "total": 7})
        out = self.proxy().analysis.readOutput(a["id"], "stdout", 0, 1000)
        self.assertIn(b"7 records for " + a["id"].encode(), out["data"])
        self.assertTrue(out["eof"])
        self.assertEqual(out["dropped"], 0)

    def test_env_flags_params_stdin_files_and_run_as(self):
        a = self.launch("env", {"n": 42, "flag": True, "t": "t5@test"}, options={
            "stdin": b"first line\nsecond\n", "files": {"support.txt": b"support data"}})
        info = self.wait_end(a["id"])
        self.assertEqual(info["state"], "exited", info)
        self.assertEqual(info["params"], {"n": 42, "flag": True, "x": 1.5, "t": "t5@test"})
        self.assertEqual(info["target"], "t5@test")
        data = self.results(a["id"])
        self.assertEqual(len(data), 2, data)
        r = data[0]
        self.assertEqual(r["user"], "nobody")
        self.assertTrue(r["cwd"].endswith("/runs/%s/work" % a["id"]), r["cwd"])
        self.assertEqual(r["args"], "--flag")
        self.assertEqual((r["n"], r["x"], r["t"], r["tgt"], r["me"]), (42, 1.5, "t5@test", "t5@test", a["id"]))
        self.assertEqual((r["line"], r["file"]), ("first line", "support data"))
        self.assertRegex(r["url"], r"^http://127\.0\.0\.1:%d/RPC2$" % self.server.port)
        self.assertEqual(data[1], {"ok": 1})
        self.assertEqual(info["skipped"], 1)  # the garbage line

    def test_bad_params_name_the_parameter(self):
        p = self.proxy("oper")
        f = self.assertFault(-32602, p.analysis.launch, "env", {})
        self.assertIn("'n'", f.faultString)
        f = self.assertFault(-32602, p.analysis.launch, "env", {"n": "x"})
        self.assertIn("'n'", f.faultString)
        f = self.assertFault(-32602, p.analysis.launch, "env", {"n": 1, "bogus": 2})
        self.assertIn("'bogus'", f.faultString)
        f = self.assertFault(-32602, p.analysis.launch, "env", {"n": 1, "t": "not-a-target"})
        self.assertIn("'t'", f.faultString)
        self.assertFault(-32602, p.analysis.launch, "env", {"n": 1, "flag": "yes"})
        self.assertFault(-32602, p.analysis.launch, "env", [1])
        self.assertFault(-32602, p.analysis.launch, 12)
        for bad in ("../x", "a/b", "..", "."):
            f = self.assertFault(-32602, p.analysis.launch, "env", {"n": 1}, {"files": {bad: b"x"}})
        a = self.launch("exit3")
        self.assertFault(-32602, p.analysis.results, a["id"], -1, 5)
        self.assertFault(-32602, p.analysis.readOutput, a["id"], "stdnothing", 0, 5)
        self.assertFault(-32602, p.analysis.wait, a["id"], "soon")
        self.wait_end(a["id"])
        self.assertFault(-32602, p.analysis.results, a["id"], -1, 5)  # and from the supervisor
        self.assertFault(-32602, p.analysis.readOutput, a["id"], "stdnothing", 0, 5)

    def test_program_that_cannot_start_is_fault_6_and_listed_failed(self):
        f = self.assertFault(6, self.proxy("oper").analysis.launch, "noexec", {})
        self.assertIn("no-such-program-here", f.faultString)
        self.assertIn("No such file", f.faultString)
        failed = [a for a in self.proxy("viewer").analysis.list({"name": "noexec"})]
        self.assertEqual([a["state"] for a in failed], ["failed"])

    def test_unknown_names_are_fault_1(self):
        p = self.proxy("oper")
        f = self.assertFault(1, p.analysis.launch, "no-such-analysis", {})
        self.assertIn("no-such-analysis", f.faultString)
        self.assertFault(1, p.analysis.info, "a9999@test")
        self.assertFault(1, p.analysis.kill, "a9999@test")
        self.assertFault(1, p.analysis.results, "a9999@test", 0, 10)

    def test_viewer_cannot_launch_or_kill(self):
        self.assertFault(3, self.proxy("viewer").analysis.launch, "crash", {})
        a = self.launch("forever")
        self.assertFault(3, self.proxy("viewer").analysis.kill, a["id"])
        self.assertFault(3, self.proxy("oper2").analysis.kill, a["id"])  # not its owner
        self.assertEqual(self.proxy("admin").analysis.kill(a["id"])["state"], "killed")

    def test_crashing_analysis_is_failed_with_its_signal_and_results_kept(self):
        a = self.launch("crash")
        info = self.wait_end(a["id"])
        self.assertEqual((info["state"], info["signal"]), ("failed", signal.SIGSEGV), info)
        self.assertEqual(self.results(a["id"]), [{"partial": 1}])

    def test_exit_code_and_stderr(self):
        a = self.launch("exit3")
        info = self.wait_end(a["id"])
        self.assertEqual((info["state"], info["exitCode"]), ("exited", 3))
        err = self.proxy().analysis.readOutput(a["id"], "stderr", 0, 100)
        self.assertEqual(err["data"], b"bye\n")

    def test_never_ending_analysis_pause_resume_kill(self):
        p = self.proxy("oper")
        a = self.launch("forever")
        aid = a["id"]
        self.assertFault(2, p.analysis.resume, aid)
        time.sleep(0.3)
        self.assertEqual(p.analysis.pause(aid)["state"], "paused")
        self.assertFault(2, p.analysis.pause, aid)
        n1 = p.analysis.info(aid)["results"]
        time.sleep(0.5)
        time.sleep(0.3)  # progress events are sent every 250 ms
        n2 = p.analysis.info(aid)["results"]
        self.assertLessEqual(n2 - n1, 1)
        with open("/proc/%d/stat" % a["pid"]) as f:
            self.assertEqual(f.read().rsplit(")", 1)[1].split()[0], "T")
        self.assertEqual(p.analysis.resume(aid)["state"], "running")
        time.sleep(0.4)
        self.assertGreater(p.analysis.info(aid)["results"], n2)
        w = p.analysis.wait(aid, 200)
        self.assertEqual(w["state"], "running")
        info = p.analysis.kill(aid)
        self.assertEqual((info["state"], info["signal"]), ("killed", signal.SIGKILL), info)
        self.assertFault(2, p.analysis.kill, aid)
        self.assertEqual(self.wait_end(aid)["state"], "killed")
        data = self.results(aid)
        self.assertEqual([d["tick"] for d in data], list(range(1, len(data) + 1)))
        self.assertFalse(os.path.exists("/proc/%d" % a["pid"]) and
                         open("/proc/%d/stat" % a["pid"]).read().rsplit(")", 1)[1].split()[0] != "Z")

    def test_signal_by_name_to_the_process_group(self):
        p = self.proxy("oper")
        a = self.launch("trapper")
        time.sleep(0.3)
        self.assertFault(-32602, p.analysis.signal, a["id"], "SIGNOPE")
        p.analysis.signal(a["id"], "TERM")
        info = self.wait_end(a["id"])
        self.assertEqual((info["state"], info["exitCode"]), ("exited", 0))
        self.assertEqual(self.results(a["id"]), [{"caught": "TERM"}])

    def test_write_input_and_close_input(self):
        p = self.proxy("oper")
        a = self.launch("echo")
        self.assertEqual(p.analysis.writeInput(a["id"], "one\ntwo\n"), 8)
        self.assertEqual(p.analysis.writeInput(a["id"], b"three\n"), 6)
        self.assertTrue(p.analysis.closeInput(a["id"]))
        self.assertFault(2, p.analysis.writeInput, a["id"], "late")
        self.wait_end(a["id"])
        out = p.analysis.readOutput(a["id"], "stdout", 0, 1000)
        self.assertEqual(out["data"], b"got one\ngot two\ngot three\n")
        last = p.analysis.readOutput(a["id"], "stdout", -1, 6)
        self.assertEqual((last["data"], last["offset"]), (b"three\n", len(out["data"]) - 6))

    def test_report_from_the_operator_and_remove(self):
        p = self.proxy("oper")
        a = self.launch("forever")
        seq = p.analysis.report(a["id"], {"by": "hand", "list": [1, 2]})
        self.assertGreaterEqual(seq, 1)
        self.assertFault(2, p.analysis.remove, a["id"])
        p.analysis.kill(a["id"])
        self.wait_end(a["id"])
        got = [r for r in p.analysis.results(a["id"], seq - 1, 1)["results"]]
        self.assertEqual(got[0]["data"], {"by": "hand", "list": [1, 2]})
        self.assertFault(2, p.analysis.report, a["id"], {"late": True})
        self.assertFault(3, self.proxy("oper2").analysis.remove, a["id"])
        self.assertTrue(p.analysis.remove(a["id"]))
        self.assertFault(1, p.analysis.info, a["id"])
        self.assertNotIn(a["id"], [x["id"] for x in p.analysis.list()])

    def test_list_filters_by_state_and_name(self):
        p = self.proxy("viewer")
        a = self.launch("exit3")
        self.wait_end(a["id"])
        ids = [x["id"] for x in p.analysis.list({"name": "exit3", "state": "exited"})]
        self.assertIn(a["id"], ids)
        self.assertEqual(p.analysis.list({"name": "exit3", "state": "running"}), [])
        self.assertIn(a["id"], [x["id"] for x in p.analysis.list()])

    def test_token_is_scoped_to_own_targets_and_revoked_at_the_end(self):
        a = self.launch("tokens", {"t": "t7@test"})
        info = self.wait_end(a["id"])
        self.assertEqual(info["state"], "exited", self.proxy().analysis.readOutput(a["id"], "stderr", 0, 5000))
        r = self.results(a["id"])[0]
        self.assertEqual(r["own_info"], 0)
        self.assertEqual(r["echo"], 0)
        self.assertEqual(r["my_target"], 1)      # allowed through, but no such target
        self.assertEqual(r["other_target"], 3)   # another target: refused
        self.assertEqual(r["launch"], 3)         # not an entity method of its own
        self.assertEqual(r["list"], 3)
        with open(os.path.join(self.server.state, "runs", a["id"], "work", "token")) as f:
            token = f.read().strip()
        late = xmlrpc.client.ServerProxy(self.server.url(a["id"], token))
        with self.assertRaises(xmlrpc.client.ProtocolError) as cm:
            late.server.echo("x")
        self.assertEqual(cm.exception.errcode, 401)

    def test_run_dir_is_not_writable_by_the_analysis(self):
        a = self.launch("exit3")
        self.wait_end(a["id"])
        run = os.path.join(self.server.state, "runs", a["id"])
        st = os.stat(run)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode) & 0o022), (0, 0))
        self.assertEqual(os.stat(os.path.join(run, "work")).st_uid, 65534)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(run, "results.bin")).st_mode), 0o600)


if __name__ == "__main__":
    import unittest
    unittest.main()
