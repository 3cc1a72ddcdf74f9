"""corrald as a program: exit statuses, the default admin token, user-add,
and a clean stop on SIGTERM/SIGINT within 5 seconds."""

import os
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

from harness import CORRALD, SLOW, Server, user_add


class Lifecycle(unittest.TestCase):

    def run_corrald(self, *args, timeout=10):
        return subprocess.run([CORRALD, *args], capture_output=True, text=True, timeout=timeout)

    def test_bad_options_exit_2_with_usage(self):
        for args in (["--no-such-option"], ["--listen"], ["--listen", "nohostport"],
                     ["--max-depth", "x"], ["--log-level", "loud"]):
            r = self.run_corrald(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("usage:", r.stderr)

    def test_port_in_use_exits_1_saying_so(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with tempfile.TemporaryDirectory() as d:
            r = self.run_corrald("--listen", "127.0.0.1:%d" % port, "--state-dir", d)
        s.close()
        self.assertEqual(r.returncode, 1)
        self.assertIn("in use", r.stderr)

    def test_sigterm_and_sigint_stop_cleanly_within_5s(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            srv = Server()
            try:
                self.assertEqual(srv.proxy().server.echo(1), 1)
                rc, took = srv.stop(sig)
                self.assertEqual(rc, 0, srv.stderr())
                self.assertLess(took, 5 * SLOW)
                self.assertIsNone(srv.sanitizer_report())
            finally:
                srv.cleanup()

    def test_default_admin_token_is_made_mode_0600_and_works(self):
        srv = Server(users=False)
        try:
            path = os.path.join(srv.state, "admin.token")
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            self.assertEqual(len(srv.tokens["admin"]), 64)
            self.assertEqual(srv.proxy().server.echo("adm"), "adm")
            self.assertEqual(srv.stop()[0], 0, srv.stderr())
        finally:
            srv.cleanup()

    def test_state_dir_token_survives_restart(self):
        with tempfile.TemporaryDirectory() as d:
            state = os.path.join(d, "nested", "state")
            for _ in range(2):
                p = subprocess.Popen([CORRALD, "--listen", "127.0.0.1:0", "--state-dir", state],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                line = p.stdout.readline()
                self.assertIn("listening on http://", line)
                with open(os.path.join(state, "admin.token")) as f:
                    tok = f.read().strip()
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(10 * SLOW), 0)
                p.stdout.close()
                p.stderr.close()
            self.assertEqual(len(tok), 64)
            # others may pass through to their analysis runs, never list or read
            self.assertEqual(stat.S_IMODE(os.stat(state).st_mode), 0o711)
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(state, "ipc")).st_mode), 0o700)

    def test_user_add_prints_token_last_and_refuses_bad_input(self):
        with tempfile.TemporaryDirectory() as d:
            users = os.path.join(d, "users")
            tok = user_add(users, "alice", "operator")
            self.assertEqual(len(tok), 64)
            with open(users) as f:
                self.assertNotIn(tok, f.read())  # only a salted hash is stored
            self.assertEqual(stat.S_IMODE(os.stat(users).st_mode), 0o600)
            self.assertNotEqual(self.run_corrald("user-add", "--users", users, "alice", "viewer").returncode, 0)
            self.assertNotEqual(self.run_corrald("user-add", "--users", users, "bob", "king").returncode, 0)
            self.assertEqual(self.run_corrald("user-add", "--users", users).returncode, 2)

    def test_bad_users_file_exits_1(self):
        with tempfile.TemporaryDirectory() as d:
            users = os.path.join(d, "users")
            with open(users, "w") as f:
                f.write("this is not a users line\n")
            r = self.run_corrald("--listen", "127.0.0.1:0", "--state-dir", d, "--users", users)
            self.assertEqual(r.returncode, 1)
            self.assertIn(users, r.stderr)


if __name__ == "__main__":
    unittest.main()
