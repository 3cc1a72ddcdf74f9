"""HTTPS on the gateway's own event loop: TLS 1.2+ only, certificate reload on
SIGHUP without dropping connections, mutual TLS, and plain HTTP or a
stalled handshake on the TLS port never hurting anyone else."""

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import xmlrpc.client

from harness import SLOW, Server, fixture


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


class Pki:
    """A throwaway CA with a server certificate (CN localhost, IP 127.0.0.1)
    and a client certificate, made with the openssl command."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="corral-pki-")
        self.ca_key, self.ca = self.path("ca.key"), self.path("ca.pem")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=corral test CA",
                "-keyout", self.ca_key, "-out", self.ca)
        self.server_key, self.server_cert = self.issue("server", "localhost", server=True)
        self.client_key, self.client_cert = self.issue("client", "a client")

    def path(self, name):
        return os.path.join(self.dir, name)

    def issue(self, name, cn, server=False, serial=None):
        key, csr, cert, ext = (self.path(name + s) for s in (".key", ".csr", ".pem", ".ext"))
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn, "-keyout", key, "-out", csr)
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n" if server else "extendedKeyUsage=clientAuth\n")
        args = ["x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-days", "2",
                "-out", cert, "-extfile", ext]
        args += ["-set_serial", str(serial)] if serial else ["-CAcreateserial"]
        openssl(*args)
        return key, cert

    def client_context(self, with_cert=False):
        ctx = ssl.create_default_context(cafile=self.ca)
        if with_cert:
            ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class TlsCase(unittest.TestCase):
    mtls = False

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        cls.cert, cls.key = cls.pki.path("live.pem"), cls.pki.path("live.key")
        shutil.copy(cls.pki.server_cert, cls.cert)
        shutil.copy(cls.pki.server_key, cls.key)
        args = ["--tls-cert", cls.cert, "--tls-key", cls.key, "--tls-ca", cls.pki.ca, "--io-timeout-ms", "2000"]
        if cls.mtls:
            args += ["--tls-client-ca", cls.pki.ca]
        cls.server = Server(args)
        assert cls.server.scheme == "https"

    @classmethod
    def tearDownClass(cls):
        rc, _ = cls.server.stop()
        report = cls.server.sanitizer_report()
        err = cls.server.stderr()
        cls.server.cleanup()
        cls.pki.cleanup()
        if rc != 0 or report:
            raise AssertionError("corrald exit %r:\n%s" % (rc, err[-5000:]))

    def proxy(self, user="admin", with_cert=None):
        ctx = self.pki.client_context(self.mtls if with_cert is None else with_cert)
        return xmlrpc.client.ServerProxy(self.server.url(user), context=ctx, allow_none=True,
                                         use_builtin_types=True)

    def peer_serial(self):
        ctx = self.pki.client_context(self.mtls)
        with socket.create_connection((self.server.host, self.server.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                return s.getpeercert()["serialNumber"]


class Https(TlsCase):

    def test_echo_over_https_keepalive(self):
        p = self.proxy()
        for i in range(200):
            self.assertEqual(p.server.echo({"i": i, "b": b"\x00" * i}), {"i": i, "b": b"\x00" * i})

    def test_big_value_over_tls(self):
        v = "x" * 3_000_000
        self.assertEqual(self.proxy().server.echo(v), v)

    def test_tls_1_1_is_refused(self):
        ctx = self.pki.client_context()
        try:
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ValueError, ssl.SSLError):
            self.skipTest("this OpenSSL cannot even offer TLS 1.1")
        with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
            with socket.create_connection((self.server.host, self.server.port), timeout=5) as raw:
                ctx.wrap_socket(raw, server_hostname="localhost").do_handshake()
        self.assertEqual(self.proxy().server.echo(1), 1)

    def test_plain_http_on_the_tls_port_is_closed_cleanly(self):
        for _ in range(20):
            reply = self.server.raw(b"POST /RPC2 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", timeout=5)
            self.assertFalse(reply.startswith(b"HTTP/1.1 200"))
        self.assertTrue(self.server.alive())
        self.assertEqual(self.proxy().server.echo("after"), "after")

    def test_stalled_handshakes_do_not_delay_others(self):
        stalled = []
        for i in range(50):
            s = socket.create_connection((self.server.host, self.server.port), timeout=5)
            if i % 2:
                s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # half a ClientHello
            stalled.append(s)
        t0 = time.time()
        p = self.proxy()
        for i in range(20):
            self.assertEqual(p.server.echo(i), i)
        self.assertLess(time.time() - t0, 5 * SLOW)
        # and the io timeout closes them
        time.sleep(3)
        closed = 0
        for s in stalled:
            s.settimeout(2)
            try:
                closed += s.recv(10) == b""
            except OSError:
                closed += 1
            s.close()
        self.assertEqual(closed, 50)

    def test_sighup_reloads_the_certificate_without_dropping_connections(self):
        before = self.peer_serial()
        keep = http.client.HTTPSConnection(self.server.host, self.server.port,
                                           context=self.pki.client_context(), timeout=10)
        body = xmlrpc.client.dumps(("k",), "server.echo")
        hdr = {"Content-Type": "text/xml", "Authorization": self.server.auth_header()}
        keep.request("POST", "/RPC2", body, hdr)
        self.assertEqual(keep.getresponse().read().count(b"<string>k</string>"), 1)
        key, cert = self.pki.issue("server2", "localhost", server=True, serial=4242)
        shutil.copy(cert, self.cert)
        shutil.copy(key, self.key)
        self.server.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 5 * SLOW
        while self.peer_serial() == before and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(int(self.peer_serial(), 16), 4242)
        keep.request("POST", "/RPC2", body, hdr)  # the old connection still works
        self.assertEqual(keep.getresponse().read().count(b"<string>k</string>"), 1)
        keep.close()
        self.assertIn("reloaded", self.server.stderr())


class HttpsAnalysis(TlsCase):
    """An analysis calls back over https, trusting the CA it is handed."""

    def test_breakpoint_count_runs_over_https(self):
        p = self.proxy("oper")
        if "analysis.launch" not in p.system.listMethods():
            self.skipTest("analysis.* not built")
        t = p.target.launch({"argv": [fixture("loop")]})
        try:
            a = p.analysis.launch("breakpoint-count", {"target": t["id"], "symbol": "tick", "duration": 0.5})
            info = p.analysis.wait(a["id"], 30000 * SLOW)
            err = p.analysis.readOutput(a["id"], "stderr", 0, 10000)["data"].decode(errors="replace")
            self.assertEqual((info["state"], info["exitCode"]), ("exited", 0), err)
            self.assertGreater(p.analysis.results(a["id"], 0, 10)["results"][0]["data"]["hits"], 0)
        finally:
            p.target.kill(t["id"])


class MutualTls(TlsCase):
    mtls = True

    def test_client_with_certificate_is_served(self):
        self.assertEqual(self.proxy(with_cert=True).server.echo("m"), "m")

    def test_client_without_certificate_is_refused_at_the_handshake(self):
        with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError,
                                xmlrpc.client.ProtocolError, OSError)):
            self.proxy(with_cert=False).server.echo("no")
        self.assertEqual(self.proxy(with_cert=True).server.echo("yes"), "yes")


class TlsOptions(unittest.TestCase):

    def test_bad_certificate_exits_1_and_half_options_exit_2(self):
        from harness import CORRALD
        with tempfile.TemporaryDirectory() as d:
            bogus = os.path.join(d, "bogus.pem")
            with open(bogus, "w") as f:
                f.write("not a certificate\n")
            r = subprocess.run([CORRALD, "--listen", "127.0.0.1:0", "--state-dir", d, "--tls-cert", bogus,
                                "--tls-key", bogus], capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 1)
            self.assertIn("bogus.pem", r.stderr)
            r = subprocess.run([CORRALD, "--state-dir", d, "--tls-cert", bogus], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
