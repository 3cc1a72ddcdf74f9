"""Test harness: starts a real corrald on a free port with a temporary state
directory, with three users (admin, operator, viewer), and stops it at the
end, failing the test class if it did not exit 0 within 5 s or if a
sanitizer reported anything on its standard error.

Environment (set by ctest): CORRAL_BIN (the build directory), CORRAL_FIXTURES
(the fixture programs), CORRAL_SANITIZE ("ON" under ASan/UBSan),
CORRAL_VALGRIND ("1": corrald runs under valgrind memcheck, which exits 99
on any memory error or definite leak, so the class fails at its stop)."""

import http.client
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import xmlrpc.client

BIN = os.environ.get("CORRAL_BIN", os.path.join(os.path.dirname(__file__), "../../build"))
FIXTURES = os.environ.get("CORRAL_FIXTURES", os.path.join(BIN, "fixtures"))
SANITIZE = os.environ.get("CORRAL_SANITIZE", "OFF") in ("ON", "1", "TRUE", "true")
CORRALD = os.path.join(BIN, "corrald")

# Under sanitizers everything is slower; tests scale their waits by this.
SLOW = 4 if SANITIZE else 1

# CORRAL_VALGRIND=1: the corrald command is wrapped in valgrind (memcheck,
# 20-50x slower than native, hence the larger SLOW).
VALGRIND = os.environ.get("CORRAL_VALGRIND", "") in ("1", "ON", "true")
VALGRIND_CMD = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                "--errors-for-leak-kinds=definite", "--child-silent-after-fork=yes",
                "--trace-children=no"]
if VALGRIND:
    SLOW = 10

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


def fixture(name):
    """Path of a fixture program built from tests/fixtures/<name>.c."""
    return os.path.join(FIXTURES, name)


def user_add(users_file, name, role):
    """Run `corrald user-add` and return the new token (its last line)."""
    out = subprocess.run([CORRALD, "user-add", "--users", users_file, name, role],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    return out.strip().splitlines()[-1]


class Server:
    """One corrald process."""

    def __init__(self, extra_args=(), users=True, node="test", env=None):
        self.dir = tempfile.mkdtemp(prefix="corral-test-")
        # As for a real state dir: analyses run as `nobody` and must be able
        # to pass through to their run directory (STATE is 0711 itself).
        os.chmod(self.dir, 0o711)
        self.state = os.path.join(self.dir, "state")
        self.tokens = {}
        args = [CORRALD, "--listen", "127.0.0.1:0", "--state-dir", self.state,
                "--node", node, "--log-level", "info"]
        if users:
            self.users_file = os.path.join(self.dir, "users")
            for name, role in (("admin", "admin"), ("oper", "operator"),
                               ("oper2", "operator"), ("viewer", "viewer")):
                self.tokens[name] = user_add(self.users_file, name, role)
            args += ["--users", self.users_file]
        args += list(extra_args)
        if VALGRIND:
            args = VALGRIND_CMD + args
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.stderr_file = open(self.stderr_path, "w+")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr_file,
                                     stdin=subprocess.DEVNULL, text=True, env=env)
        self.url_base = None
        deadline = time.time() + 30 * SLOW
        while time.time() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    break
                m = re.search(r"listening on (https?)://([\d.]+):(\d+)/RPC2", line)
                if m:
                    self.scheme, self.host, self.port = m.group(1), m.group(2), int(m.group(3))
                    self.url_base = "%s://%s:%d" % (self.scheme, self.host, self.port)
                    break
            if self.proc.poll() is not None:
                break
        if self.url_base is None:
            self.proc.kill()
            raise RuntimeError("corrald did not start: " + self.stderr())
        # drain stdout in the background so the server never blocks on it
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        if not users:
            with open(os.path.join(self.state, "admin.token")) as f:
                self.tokens["admin"] = f.read().strip()

    def url(self, user="admin", token=None):
        tok = token if token is not None else self.tokens[user]
        return "%s://%s:%s@%s:%d/RPC2" % (self.scheme, user, tok, self.host, self.port)

    def proxy(self, user="admin", **kw):
        """An xmlrpc.client.ServerProxy acting as user."""
        kw.setdefault("allow_none", True)
        kw.setdefault("use_builtin_types", True)
        return xmlrpc.client.ServerProxy(self.url(user), **kw)

    def http(self, timeout=10):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def post(self, body, user="admin", timeout=30):
        """POST raw bytes to /RPC2 as user; returns (status, body)."""
        c = self.http(timeout=timeout)
        c.request("POST", "/RPC2", body, {"Content-Type": "text/xml", "Authorization": self.auth_header(user)})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def fault_of(self, body, user="admin"):
        """The XML-RPC fault a raw body gets (None when it got a result);
        an HTTP status other than 200 fails the test."""
        status, data = self.post(body, user)
        if status != 200:
            raise AssertionError("HTTP %d: %r" % (status, data[:200]))
        try:
            xmlrpc.client.loads(data)
        except xmlrpc.client.Fault as f:
            return f
        return None

    def auth_header(self, user="admin"):
        import base64
        raw = ("%s:%s" % (user, self.tokens[user])).encode()
        return "Basic " + base64.b64encode(raw).decode()

    def raw(self, data, timeout=5, read=True, half_close=False):
        """Send raw bytes on a new connection; return what came back until
        close or timeout. half_close shuts our side for writing after sending."""
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
            if not read:
                return b""
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                out += chunk
            return out
        finally:
            s.close()

    def stderr(self):
        self.stderr_file.flush()
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, sig=signal.SIGTERM):
        """Stop the server; returns (exit status, seconds taken)."""
        if self.proc.poll() is None:
            t0 = time.time()
            self.proc.send_signal(sig)
            try:
                rc = self.proc.wait(timeout=5 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = "timeout"
            took = time.time() - t0
        else:
            rc, took = self.proc.returncode, 0.0
        return rc, took

    def cleanup(self):
        self.stderr_file.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def sanitizer_report(self):
        err = self.stderr()
        for mark in SANITIZER_MARKS:
            if mark in err:
                return err
        return None


class ServerTestCase(unittest.TestCase):
    """A test class sharing one server; it must stop cleanly at the end."""

    server_args = ()
    server_users = True

    @classmethod
    def setUpClass(cls):
        cls.server = Server(cls.server_args, users=cls.server_users)

    @classmethod
    def tearDownClass(cls):
        srv = cls.server
        try:
            rc, took = srv.stop()
            report = srv.sanitizer_report()
            if report or rc != 0:
                raise AssertionError("corrald exit %r after %.1fs; stderr:\n%s"
                                     % (rc, took, srv.stderr()[-20000:]))
        finally:
            srv.cleanup()

    def proxy(self, user="admin", **kw):
        return self.server.proxy(user, **kw)

    def assertFault(self, code, fn, *args):
        """Call fn(*args) and check it raises xmlrpc Fault `code`; return the fault."""
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            fn(*args)
        self.assertEqual(cm.exception.faultCode, code, cm.exception.faultString)
        return cm.exception

    def assertServing(self):
        """The server still answers a normal call."""
        self.assertTrue(self.server.alive(), self.server.stderr()[-5000:])
        self.assertEqual(self.proxy().server.echo("still here"), "still here")
