#!/usr/bin/env python3
"""bench/bench.py — measures every row of issue 6 and prints one table.

bench/run installs the packages, builds corral and the peers, then runs this
(see bench/README.md). Everything is started here, on loopback only, and
killed on exit. Servers run pinned to SERVER_CPU, the load generator (wrk)
and this driver (the Python client rows) to CLIENT_CPU.

Every comparison is corral / peer measured in this same run; a row whose
corral feature is missing says "not built yet" instead of a number."""

import argparse
import atexit
import base64
import csv
import http.client
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
ECHO_VALUE = "hello, corral benchmark"   # the same string bench/floor.c carries
NOT_BUILT = "not built yet"

PROCS = []          # every process we started, killed at exit


# ---------------------------------------------------------------- processes

def kill_all():
    for p in reversed(PROCS):
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(timeout=6)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
            except OSError:
                pass


atexit.register(kill_all)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, lambda s, f: sys.exit(128 + s))


class Server:
    """A server process pinned to the server core that prints
    'listening on http(s)://127.0.0.1:PORT/RPC2' (or is given its port)."""

    def __init__(self, name, cmd, cpu, logdir, port=None, env=None, timeout=30):
        self.name = name
        self.log = os.path.join(logdir, name + ".stderr")
        self.errf = open(self.log, "w")
        self.proc = subprocess.Popen(["taskset", "-c", str(cpu)] + cmd, stdout=subprocess.PIPE,
                                     stderr=self.errf, stdin=subprocess.DEVNULL, text=True,
                                     env=env)
        PROCS.append(self.proc)
        self.pid = self.proc.pid            # taskset execs the server: same pid
        self.scheme, self.port = "http", port
        deadline = time.time() + timeout
        if port is None:
            while time.time() < deadline:
                ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
                if ready:
                    line = self.proc.stdout.readline()
                    if not line:
                        break
                    m = re.search(r"listening on (https?)://127\.0\.0\.1:(\d+)/", line)
                    if m:
                        self.scheme, self.port = m.group(1), int(m.group(2))
                        break
                if self.proc.poll() is not None:
                    break
        else:
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
        if self.port is None or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("%s did not start: %s" % (name, self.stderr()[-2000:]))
        # drain stdout so the server never blocks writing to it
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def url(self, path="/RPC2"):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.port, path)

    def stderr(self):
        self.errf.flush()
        with open(self.log, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.errf.close()


def tree_pids(pid):
    """pid and all its descendants (corral's analysis hosts, nginx workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def cpu_seconds(pid):
    """utime + stime of pid's process tree, from /proc/<pid>/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree_pids(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])   # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def cpu_busy_seconds(cpu):
    """Busy time of one CPU from /proc/stat (everything but idle and iowait)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu%d " % cpu):
                v = [int(x) for x in line.split()[1:]]
                return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")
    return 0.0


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- XML-RPC

def call_body(method, *params):
    return xmlrpc.client.dumps(tuple(params), method, allow_none=True).encode()


def basic(user, token):
    return "Basic " + base64.b64encode(("%s:%s" % (user, token)).encode()).decode()


class Target:
    """How to reach one server: URL and credentials."""

    def __init__(self, server, user=None, token=None):
        self.server, self.user, self.token = server, user, token

    def auth(self):
        return basic(self.user, self.token) if self.user else ""

    def proxy(self, timeout=30):
        url = self.server.url()
        if self.user:
            url = url.replace("://", "://%s:%s@" % (self.user, self.token), 1)
        return xmlrpc.client.ServerProxy(url, allow_none=True, use_builtin_types=True,
                                         transport=_TimeoutTransport(url, timeout))


class _TimeoutTransport(xmlrpc.client.Transport):
    def __init__(self, url, timeout):
        super().__init__(use_builtin_types=True)
        self._timeout = timeout
        self._tls = url.startswith("https")

    def make_connection(self, host):
        if self._tls:
            import ssl
            ctx = ssl._create_unverified_context()   # our own self-signed cert
            chost, self._extra_headers, x509 = self.get_host_info(host)
            self._connection = host, http.client.HTTPSConnection(
                chost, timeout=self._timeout, context=ctx)
            return self._connection[1]
        conn = super().make_connection(host)
        conn.timeout = self._timeout
        return conn


# ---------------------------------------------------------------- wrk

def parse_time_us(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    if not m:
        return None
    v, u = float(m.group(1)), m.group(2)
    return v * {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[u]


class Bench:
    def __init__(self, a):
        self.a = a
        self.rows = []          # the table, one comparison a line
        self.others = []        # % of the server core used by others, per load run
        self.raw = {}           # every figure measured, by key
        self.out = a.out
        self.tmp = tempfile.mkdtemp(prefix="corral-bench-")
        atexit.register(shutil.rmtree, self.tmp, True)
        os.chmod(self.tmp, 0o755)   # analyses run as nobody and read their dir
        self.logdir = os.path.join(self.out, "logs")
        os.makedirs(self.logdir, exist_ok=True)
        self.D = a.duration
        # load runs are split into rounds, interleaved between servers
        self.R = 2 if a.quick else 3
        self.round_secs = max(1, a.duration // 2)
        self.peers = a.peers
        self.fixture = os.path.join(self.peers, "bench_fixture")

    # ---- table

    def add(self, row, measure, corral, peer_name, peer, unit, better="higher", goal=None,
            goal_on="ratio", note=""):
        """One line: corral's figure, the peer's, and corral/peer.
        goal: ('>=', x) or ('<=', x) applied to the ratio (goal_on='ratio') or
        to corral's own figure (goal_on='value')."""
        for who, v in (("corral", corral), (peer_name, peer)):
            if isinstance(v, str) and v.startswith("error") and len(v) > 16:
                note = (note + "; " if note else "") + "%s %s" % (who, v)
        ratio = None
        if isinstance(corral, (int, float)) and isinstance(peer, (int, float)) and peer:
            ratio = corral / peer
        met = ""
        if goal:
            subject = ratio if goal_on == "ratio" else corral
            if isinstance(subject, (int, float)):
                met = "yes" if (subject >= goal[1] if goal[0] == ">=" else subject <= goal[1]) else "NO"
        self.rows.append(dict(row=row, measure=measure, unit=unit, corral=corral,
                              peer_name=peer_name, peer=peer, ratio=ratio, better=better,
                              goal=goal, goal_on=goal_on, met=met, note=note))

    def log(self, msg):
        print("bench: " + msg, file=sys.stderr, flush=True)

    # ---- load generation

    def wrk(self, tgt, conns, secs, body=None, template=None, ids=None, close=False,
            server_pid=None):
        env = dict(os.environ, BENCH_AUTH=tgt.auth(), BENCH_CLOSE="1" if close else "0")
        if body is not None:
            path = os.path.join(self.tmp, "body-%d.xml" % abs(hash(body)))
            with open(path, "wb") as f:
                f.write(body)
            env["BENCH_BODY"] = path
        else:
            tpath = os.path.join(self.tmp, "template.xml")
            ipath = os.path.join(self.tmp, "ids.txt")
            with open(tpath, "wb") as f:
                f.write(template)
            with open(ipath, "w") as f:
                f.write("\n".join(ids) + "\n")
            env["BENCH_TEMPLATE"], env["BENCH_IDS"] = tpath, ipath
        cmd = ["taskset", "-c", str(self.a.client_cpu), "wrk", "-t1", "-c%d" % conns,
               "-d%ds" % max(1, round(secs)), "--latency", "--timeout", "5s",
               "-s", os.path.join(HERE, "echo.lua"), tgt.server.url()]
        pid = server_pid or tgt.server.pid
        b0, c0, t0 = cpu_busy_seconds(self.a.server_cpu), cpu_seconds(pid), time.time()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True,
                             timeout=secs + 30).stdout
        c1, t1, b1 = cpu_seconds(pid), time.time(), cpu_busy_seconds(self.a.server_cpu)
        # what the server's core did for anything but this server: other
        # programs on a shared machine (the server is pinned, so all of its
        # time is on that core)
        self.others.append(max(0.0, (b1 - b0) - (c1 - c0)) / (t1 - t0) * 100)
        r = {"rps": None, "p50": None, "p99": None, "errors": 0, "requests": 0}
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if m:
            r["rps"] = float(m.group(1))
        for pct, key in (("50", "p50"), ("99", "p99")):
            m = re.search(r"^\s+%s(?:\.000)?%%\s+(\S+)" % pct, out, re.M)
            if m:
                r[key] = parse_time_us(m.group(1))
        m = re.search(r"(\d+) requests in", out)
        if m:
            r["requests"] = int(m.group(1))
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        if m:
            r["errors"] += sum(int(x) for x in m.groups())
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if m:
            r["errors"] += int(m.group(1))
        r["cpu_pct"] = 100.0 * (c1 - c0) / (t1 - t0)
        r["cpu_us_per_req"] = 1e6 * (c1 - c0) / r["requests"] if r["requests"] else None
        if r["rps"] is None:
            r["error"] = "wrk failed: " + out[-300:]
        return r

    def rounds(self, cases, conns):
        """Run every case (name, target, body or wrk keywords) in turn, R rounds, so that
        drift on a shared machine hits all of them alike; keep each case's
        best round (noise only ever slows a run down) and its spread."""
        runs = {n: [] for n, _, _ in cases}
        for _ in range(self.R):
            for n, tgt, how in cases:
                kw = how if isinstance(how, dict) else {"body": how}
                runs[n].append(self.wrk(tgt, conns, self.round_secs, **kw))
        best = {}
        for n, rs in runs.items():
            ok = [r for r in rs if r["rps"] is not None]
            if not ok:
                best[n] = "error: " + rs[0].get("error", "wrk failed")[:60]
                continue
            b = max(ok, key=lambda r: r["rps"])
            rps = [r["rps"] for r in ok]
            b["spread"] = (max(rps) - min(rps)) / max(rps) if max(rps) else 0
            b["errors"] = sum(r["errors"] for r in rs)
            best[n] = b
        return best

    # ---- servers

    def start_peers(self):
        self.servers = {}
        sc = self.a.server_cpu
        # nginx: one process (master_process off) that is its one worker,
        # answering POST /RPC2 with a fixed methodResponse.
        if shutil.which("nginx"):
            prefix = os.path.join(self.tmp, "nginx")
            os.makedirs(os.path.join(prefix, "body"), exist_ok=True)
            port = free_port()
            reply = xmlrpc.client.dumps((ECHO_VALUE,), methodresponse=True)
            reply = reply.replace("\\", "\\\\").replace("'", "\\'")
            conf = os.path.join(prefix, "nginx.conf")
            with open(conf, "w") as f:
                f.write("""daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log %(p)s/error.log warn;
pid %(p)s/nginx.pid;
events { worker_connections 10000; }
http {
  access_log off;
  client_body_temp_path %(p)s/body;
  proxy_temp_path %(p)s/body; fastcgi_temp_path %(p)s/body;
  uwsgi_temp_path %(p)s/body; scgi_temp_path %(p)s/body;
  keepalive_requests 1000000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:%(port)d;
    location /RPC2 { default_type text/xml; return 200 '%(reply)s'; }
  }
}
""" % {"p": prefix, "port": port, "reply": reply})
            self.try_start("nginx", ["nginx", "-p", prefix, "-c", conf], sc, port=port)
        abyss = os.path.join(self.peers, "bench_abyss_echo")
        if os.path.exists(abyss):
            self.try_start("abyss", [abyss], sc)
        py = self.a.python
        self.try_start("py-threading", [py, os.path.join(HERE, "py_echo.py"), "threading"], sc)
        self.try_start("py-plain", [py, os.path.join(HERE, "py_echo.py"), "plain"], sc)

    def try_start(self, name, cmd, cpu, port=None):
        try:
            self.servers[name] = Target(Server(name, cmd, cpu, self.logdir, port=port))
        except (RuntimeError, OSError) as e:
            self.log("%s: %s" % (name, e))

    def start_corral(self):
        """Start corrald as the integration harness does; None if absent."""
        self.corral = None
        self.methods = set()
        corrald = os.path.join(self.a.corral_bin, "corrald")
        if not os.path.exists(corrald):
            self.log("no %s: every corral figure is '%s'" % (corrald, NOT_BUILT))
            return
        d = os.path.join(self.tmp, "corral")
        os.makedirs(d, exist_ok=True)
        users = os.path.join(d, "users")
        try:
            out = subprocess.run([corrald, "user-add", "--users", users, "bench", "admin"],
                                 check=True, capture_output=True, text=True, timeout=30).stdout
            token = out.strip().splitlines()[-1]
        except (subprocess.SubprocessError, IndexError) as e:
            self.log("corrald user-add failed: %s" % e)
            return
        self.write_analysis_dir()
        base = [corrald, "--listen", "127.0.0.1:0", "--state-dir", os.path.join(d, "state"),
                "--node", "bench", "--users", users, "--analysis-dir", self.adir]
        srv = None
        for extra in (["--log-level", "warn"], []):
            try:
                srv = Server("corrald", base + extra, self.a.server_cpu, self.logdir)
                break
            except RuntimeError as e:
                self.log("corrald %s: %s" % (" ".join(extra), e))
        if not srv:
            return
        self.corral = Target(srv, "bench", token)
        self.corral_token = token
        self.corrald = corrald
        try:
            self.methods = set(self.corral.proxy().system.listMethods())
        except Exception as e:  # noqa: BLE001 - any failure means "not answering"
            self.log("corral system.listMethods failed: %s" % e)
            self.methods = set()
        self.log("corral up on port %d, %d methods" % (srv.port, len(self.methods)))

    def write_analysis_dir(self):
        """An analysis descriptor for the fixture: exits at once, or with
        mode=hold stays alive (for analysis.info)."""
        self.adir = os.path.join(self.tmp, "analyses")
        os.makedirs(self.adir, exist_ok=True)
        os.chmod(self.adir, 0o755)
        shutil.copy(self.fixture, os.path.join(self.adir, "bench_fixture"))
        with open(os.path.join(self.adir, "bench-fixture.xml"), "w") as f:
            f.write("""<?xml version="1.0"?>
<analysis name="bench-fixture" version="1">
  <description>bench/: exits at once, or holds with mode=hold</description>
  <program>bench_fixture</program>
  <param name="mode" type="string" required="false" default="exit">exit or hold</param>
</analysis>
""")

    def has(self, *methods):
        return self.corral is not None and all(m in self.methods for m in methods)

    def verify_echo(self, tgt, method="server.echo", params=(ECHO_VALUE,), expect=ECHO_VALUE):
        try:
            got = getattr(tgt.proxy(timeout=10), method)(*params)
            if expect is not None and got != expect:
                return "wrong answer %r" % (got,)
            return None
        except Exception as e:  # noqa: BLE001
            return "%s: %s" % (type(e).__name__, str(e)[:120])

    # ================================================================ rows

    def row1_echo(self):
        """server.echo over keep-alive HTTP, 16 and 64 connections."""
        body = call_body("server.echo", ECHO_VALUE)
        names = ["corral"] + [n for n in ("nginx", "abyss", "py-threading", "py-plain")
                              if n in self.servers]
        self.echo = {}
        cases = []
        for n in names:
            tgt = self.corral if n == "corral" else self.servers[n]
            err = NOT_BUILT if tgt is None else self.verify_echo(tgt)
            if err:
                if err != NOT_BUILT:
                    self.log("%s server.echo: %s" % (n, err))
                    err = "error: " + err
                for conns in (1, 16, 64):
                    self.echo[(n, conns)] = err
            else:
                cases.append((n, tgt, body))
        for conns in (16, 64):
            self.log("row 1: server.echo c=%d, %d rounds over %s" % (conns, self.R, names))
            for n, r in self.rounds(cases, conns).items():
                self.echo[(n, conns)] = r
        # one in flight, for row 3 (corral's routed call above HTTP)
        self.log("row 3: server.echo c=1")
        one = [c for c in cases if c[0] in ("corral", "nginx", "abyss")]
        for n, r in self.rounds(one, 1).items():
            self.echo[(n, 1)] = r
        for n in ("nginx", "abyss"):
            self.echo.setdefault((n, 1), "peer missing")

        pin = "server on cpu %s, wrk on cpu %s" % (self.a.server_cpu, self.a.client_cpu)
        for conns in (16, 64):
            c = self.echo[("corral", conns)]
            for n in names[1:]:
                p = self.echo[(n, conns)]
                goal = None
                if conns == 64 and n == "nginx":
                    goal = (">=", 0.40)
                if conns == 64 and n == "abyss":
                    goal = (">=", 3.0)
                note = pin if n == "nginx" else ""
                if n == "py-plain":
                    note = "HTTP/1.0: a connection per call"
                self.add(1, "server.echo c=%d req/s" % conns, fig(c, "rps"), n, fig(p, "rps"),
                         "req/s", goal=goal, note=note)
            for key, label in (("p50", "p50"), ("p99", "p99")):
                for n in names[1:]:
                    p = self.echo[(n, conns)]
                    goal = ("<=", 2000.0) if (key == "p99" and conns == 64 and n == "nginx") else None
                    self.add(1, "server.echo c=%d %s µs" % (conns, label), fig(c, key), n,
                             fig(p, key), "µs", better="lower", goal=goal, goal_on="value",
                             note="goal: corral p99 < 2 ms" if goal else "")
            for n in names[1:]:
                p = self.echo[(n, conns)]
                self.add(1, "server.echo c=%d CPU µs/req" % conns, fig(c, "cpu_us_per_req"), n,
                         fig(p, "cpu_us_per_req"), "µs", better="lower",
                         note="CPU%% corral %s, %s %s" % (pct(fig(c, "cpu_pct")), n,
                                                         pct(fig(p, "cpu_pct"))))

    def row2_actors(self):
        """target.info (inproc hop to a target thread) and analysis.info
        (ipc hop to an analysis process) as ratios of server.echo."""
        self.tinfo_id = None
        cases = []
        if self.has("target.launch", "target.info"):
            try:
                info = self.corral.proxy().target.launch(
                    {"argv": [self.fixture], "stopAtEntry": True, "stdin": "null"})
                self.tinfo_id = info["id"]
                cases.append(("target.info", self.tinfo_id, (">=", 0.90)))
            except Exception as e:  # noqa: BLE001
                self.log("target.launch failed: %s" % e)
                cases.append(("target.info", "error: launch failed: %s" % str(e)[:80], None))
        else:
            cases.append(("target.info", NOT_BUILT, None))
        if self.has("analysis.launch", "analysis.info"):
            try:
                info = self.corral.proxy().analysis.launch("bench-fixture", {"mode": "hold"})
                cases.append(("analysis.info", info["id"], (">=", 0.75)))
            except Exception as e:  # noqa: BLE001
                self.log("analysis.launch failed: %s" % e)
                cases.append(("analysis.info", "error: launch failed: %s" % str(e)[:80], None))
        else:
            cases.append(("analysis.info", NOT_BUILT, None))
        # echo, target.info and analysis.info take turns in the same rounds
        runnable, result = [], {}
        if self.corral is not None and not isinstance(self.echo[("corral", 16)], str):
            runnable.append(("server.echo", self.corral, call_body("server.echo", ECHO_VALUE)))
        for method, ident, goal in cases:
            if ident == NOT_BUILT or ident.startswith("error"):
                result[method] = {16: ident, 64: ident}
                continue
            err = self.verify_echo(self.corral, method, (ident,), expect=None)
            if err:
                result[method] = {16: "error: " + err, 64: "error: " + err}
            else:
                runnable.append((method, self.corral, call_body(method, ident)))
        if len(runnable) > 1:
            for conns in (16, 64):
                self.log("row 2: c=%d, %d rounds over %s" % (conns, self.R, [c[0] for c in runnable]))
                for m, r in self.rounds(runnable, conns).items():
                    result.setdefault(m, {})[conns] = r
        for method, ident, goal in cases:
            for conns in (16, 64):
                r = result[method][conns]
                echo = result.get("server.echo", {}).get(conns, self.echo[("corral", conns)])
                self.add(2, "%s c=%d req/s" % (method, conns), fig(r, "rps"),
                         "corral server.echo", fig(echo, "rps"), "req/s",
                         goal=goal if conns == 64 else None,
                         note="p50 %s p99 %s; echo interleaved in the same rounds"
                         % (us(fig(r, "p50")), us(fig(r, "p99"))))
        self.tinfo = result["target.info"][64]

    def row3_broker(self):
        """corral's routed call against the message floor's three hops."""
        floor = {}
        exe = os.path.join(self.peers, "bench_floor")
        if os.path.exists(exe):
            # best of R runs, as corral's figures are best of R rounds
            for _ in range(self.R):
                out = subprocess.run(["taskset", "-c", str(self.a.server_cpu), exe,
                                      "-d", str(max(0.5, self.round_secs / 2)), "-p", "64"],
                                     capture_output=True, text=True, timeout=120).stdout
                for m in re.finditer(r"floor (\S+) (\S+) trips_per_s=(\d+) us_per_trip=([\d.]+)",
                                     out):
                    k, v = (m.group(1), m.group(2)), (float(m.group(3)), float(m.group(4)))
                    if k not in floor or v[0] > floor[k][0]:
                        floor[k] = v
        self.raw["floor"] = floor
        fl = lambda mode, kind, i: floor[(mode, kind)][i] if (mode, kind) in floor else "peer missing"
        c1, n1 = self.echo[("corral", 1)], self.echo[("nginx", 1)]
        above = None
        if isinstance(fig(c1, "p50"), float) and isinstance(fig(n1, "p50"), float):
            above = fig(c1, "p50") - fig(n1, "p50")
        elif isinstance(fig(c1, "p50"), str):
            above = fig(c1, "p50")
        ctx = "floor one hop: inproc %s, ipc %s; 3hop with ipc leg %s" % (
            us(fl("inproc", "seq", 1)), us(fl("ipc", "seq", 1)), us(fl("3hop-ipc", "seq", 1)))
        self.add(3, "server.echo c=1 p50 µs", fig(c1, "p50"), "nginx", fig(n1, "p50"), "µs",
                 better="lower", note="HTTP alone: what nginx's fixed reply costs; CPU µs/req "
                 "corral %s, nginx %s" % (fmt(fig(c1, "cpu_us_per_req")), fmt(fig(n1, "cpu_us_per_req"))))
        self.add(3, "routed call above HTTP, 1 in flight µs", above, "floor 3hop seq",
                 fl("3hop", "seq", 1), "µs", better="lower", goal=("<=", 1.5),
                 note="corral c=1 p50 minus nginx c=1 p50 (XML+auth+3 hops) vs floor; " + ctx)
        self.add(3, "routed calls/s, 64 in flight", fig(self.echo[("corral", 64)], "rps"),
                 "floor 3hop pipe64", fl("3hop", "pipe64", 0), "calls/s",
                 note="corral over HTTP c=64 vs floor 64 envelopes in flight")

    def row4_client(self):
        """Python xmlrpc.client: 1,000 sequential calls; multicall of 100."""
        n_calls = 200 if self.a.quick else 1000
        n_batches = 5 if self.a.quick else 20
        res = {}
        names = ["corral"] + [n for n in ("nginx", "abyss", "py-threading", "py-plain")
                              if n in self.servers]
        for n in names:
            tgt = self.corral if n == "corral" else self.servers[n]
            if tgt is None or (n == "corral" and not self.has("server.echo")):
                res[n] = (NOT_BUILT, NOT_BUILT)
                continue
            self.log("row 4: %s xmlrpc.client" % n)
            p = tgt.proxy()
            try:
                p.server.echo(ECHO_VALUE)
                t0 = time.perf_counter()
                for _ in range(n_calls):
                    p.server.echo(ECHO_VALUE)
                seq = n_calls / (time.perf_counter() - t0)
            except Exception as e:  # noqa: BLE001
                seq = "error: %s" % str(e)[:80]
            mc = "n/a (fixed reply)" if n == "nginx" else NOT_BUILT
            if n != "nginx" and (n != "corral" or self.has("system.multicall")):
                try:
                    t0 = time.perf_counter()
                    for _ in range(n_batches):
                        m = xmlrpc.client.MultiCall(p)
                        for i in range(100):
                            m.server.echo(ECHO_VALUE)
                        got = list(m())
                        if len(got) != 100 or got[0] != ECHO_VALUE:
                            raise RuntimeError("multicall answered %r" % got[:2])
                    mc = n_batches * 100 / (time.perf_counter() - t0)
                except Exception as e:  # noqa: BLE001
                    mc = "error: %s" % str(e)[:80]
            res[n] = (seq, mc)
        for n in names[1:]:
            self.add(4, "xmlrpc.client %d sequential calls/s" % n_calls, res["corral"][0], n,
                     res[n][0], "calls/s",
                     note="Python client on cpu %s" % self.a.client_cpu if n == "nginx" else "")
        for n in names[1:]:
            if n == "nginx":
                continue
            self.add(4, "system.multicall x100, sub-calls/s", res["corral"][1], n, res[n][1],
                     "calls/s")

    def row5_launch(self):
        """Launch: targets stopped at entry, analyses; against posix_spawn."""
        sf = {}
        exe = os.path.join(self.peers, "bench_spawn_floor")

        def floor_round():
            """One floor run between corral's rounds; keep each mode's best."""
            if not os.path.exists(exe):
                return
            out = subprocess.run(["taskset", "-c", str(self.a.server_cpu), exe, "-d",
                                  str(max(0.5, self.round_secs / 2)), self.fixture],
                                 capture_output=True, text=True, timeout=120).stdout
            for m in re.finditer(r"spawn_floor (\S+) per_s=([\d.]+) us_p50=([\d.]+)", out):
                v = (float(m.group(2)), float(m.group(3)))
                if m.group(1) not in sf or v[0] > sf[m.group(1)][0]:
                    sf[m.group(1)] = v

        self.raw["spawn_floor"] = sf
        sfl = lambda mode, i: sf[mode][i] if mode in sf else "peer missing"

        lat, per_s, rounds = NOT_BUILT, NOT_BUILT, 0
        if self.has("target.launch", "target.kill", "target.remove"):
            self.log("row 5: corral target.launch loop")
            try:
                lat, per_s = self.launch_loop(floor_round)
                rounds = self.R
            except Exception as e:  # noqa: BLE001
                lat = per_s = "error: %s" % str(e)[:80]
        for _ in range(self.R - rounds):
            floor_round()
        self.add(5, "launch stopAtEntry -> stopped, p50 µs", lat, "posix_spawn+waitpid",
                 sfl("spawn", 1), "µs", better="lower", goal=("<=", 2.0),
                 note="fixture exits at once under posix_spawn")
        self.add(5, "launch stopAtEntry -> stopped, p50 µs", lat, "fork+TRACEME+exec stop",
                 sfl("ptrace", 1), "µs", better="lower",
                 note="the least a debugger's launch costs")
        self.add(5, "targets launched+stopped /s, sequential", per_s, "posix_spawn+waitpid",
                 sfl("spawn", 0), "/s", note="corral: launch..stopped only; kill+remove untimed")
        an, an_note = NOT_BUILT, ""
        if self.has("analysis.launch", "analysis.wait", "analysis.remove"):
            self.log("row 5: corral analysis.launch loop")
            try:
                an, an_note = self.analysis_loop()
            except Exception as e:  # noqa: BLE001
                an = "error: %s" % str(e)[:80]
        self.add(5, "analyses launch->ended /s, sequential", an, "posix_spawn+waitpid",
                 sfl("spawn", 0), "/s",
                 note=an_note)

    def launch_loop(self, between):
        """R rounds of launch -> stopped (kill and remove untimed), each after
        one floor run; the best round's median and rate, as for the floor."""
        p = self.corral.proxy()
        spec = {"argv": [self.fixture], "stopAtEntry": True, "stdin": "null"}
        best = None
        for _ in range(self.R):
            between()
            lats = []
            t_end = time.time() + max(1.0, self.D / self.R)
            while time.time() < t_end and len(lats) < 2000:
                t0 = time.perf_counter()
                info = p.target.launch(spec)
                if info.get("state") != "stopped":
                    info = p.target.wait(info["id"], 5000)
                t = time.perf_counter() - t0
                if info.get("state") != "stopped":
                    raise RuntimeError("target %s is %s, not stopped"
                                       % (info["id"], info.get("state")))
                lats.append(t)
                p.target.kill(info["id"])
                try:
                    p.target.remove(info["id"])
                except xmlrpc.client.Fault:
                    p.target.wait(info["id"], 2000)
                    p.target.remove(info["id"])
            r = (statistics.median(lats) * 1e6, len(lats) / sum(lats))
            if best is None or r[1] > best[1]:
                best = r
        return best

    def analysis_loop(self):
        """launch -> ended -> remove, sequentially. The end is seen by polling
        analysis.info every millisecond (adds up to 1 ms a cycle), not by
        analysis.wait: one wait that does not answer would eat the whole
        budget. analysis.wait is then probed on an ended analysis."""
        p = self.corral.proxy()
        ended = ("exited", "killed", "failed")
        n, busy, last = 0, 0.0, None
        t_end = time.time() + self.D
        while time.time() < t_end and n < 2000:
            t0 = time.perf_counter()
            info = p.analysis.launch("bench-fixture", {"mode": "exit"})
            deadline = time.time() + 10
            try:
                while info.get("state") not in ended and time.time() < deadline:
                    time.sleep(0.001)
                    info = p.analysis.info(info["id"])
            except xmlrpc.client.Fault as f:
                # an analysis that never answers costs a whole deadline; one
                # is enough to report, and the cycles before it still count
                if f.faultCode != 4 or not n:
                    raise
                return n / busy, ("analysis #%d never answered analysis.info (fault 4 after "
                                  "%.0fs: a corral bug); figure from the %d before it"
                                  % (n + 1, time.perf_counter() - t0, n))
            busy += time.perf_counter() - t0
            if info.get("state") != "exited":
                raise RuntimeError("analysis %s is %s" % (info["id"], info.get("state")))
            if last:
                p.analysis.remove(last)
            last = info["id"]
            n += 1
        note = "same fixture as program; end seen by polling analysis.info each ms"
        if last:
            t0 = time.perf_counter()
            try:
                p.analysis.wait(last, 1000)
                note += "; analysis.wait on an ended one answers in %s" % us(
                    (time.perf_counter() - t0) * 1e6)
            except xmlrpc.client.Fault as f:
                note += ("; analysis.wait on an ended analysis faulted %d after %.1fs "
                         "(a corral bug)" % (f.faultCode, time.perf_counter() - t0))
            p.analysis.remove(last)
        return n / busy, note

    def row6_readmemory(self):
        """readMemory 1 MiB against process_vm_readv."""
        exe = os.path.join(self.peers, "bench_vm_read_floor")
        floors = []

        def floor_round():
            """One floor run, between corral's rounds, so drift hits both."""
            if not os.path.exists(exe):
                return
            out = subprocess.run(["taskset", "-c", str(self.a.server_cpu), exe, "-d",
                                  str(max(0.5, self.round_secs / 2)), self.fixture],
                                 capture_output=True, text=True, timeout=60).stdout
            m = re.search(r"mib_per_s=([\d.]+)", out)
            floors.append(float(m.group(1)) if m else "error: " + out[-80:])

        corral = NOT_BUILT
        if self.has("target.launch", "target.readMemory"):
            try:
                corral = self.readmemory_corral(floor_round)
            except Exception as e:  # noqa: BLE001
                corral = "error: %s" % str(e)[:80]
        while len(floors) < self.R and os.path.exists(exe):
            floor_round()
        nums = [f for f in floors if isinstance(f, float)]
        floor = max(nums) if nums else (floors[0] if floors else "peer missing")
        self.add(6, "readMemory 1 MiB, MiB/s", corral, "process_vm_readv loop", floor, "MiB/s",
                 goal=(">=", 0.5), note="corral: wrk c=1, base64 over HTTP; floor: copy only")

    def readmemory_corral(self, between):
        p = self.corral.proxy()
        info = p.target.launch({"argv": [self.fixture, "hold"], "stdin": "null"})
        tid = info["id"]
        addr = None
        deadline = time.time() + 10
        while time.time() < deadline and addr is None:
            if "target.readOutput" in self.methods:
                out = p.target.readOutput(tid, "stdout", 0, 4096)
                m = re.search(rb"buf=(0x[0-9a-f]+) len=(\d+)", out["data"])
                if m:
                    addr = m.group(1).decode()
                    break
            elif "target.symbol" in self.methods:
                addr = "0x%x" % p.target.symbol(tid, "bench_buf")
                time.sleep(0.2)     # let it fill the buffer
                break
            time.sleep(0.05)
        if addr is None:
            raise RuntimeError("the fixture's buffer address never appeared")
        data = p.target.readMemory(tid, addr, 1 << 20)
        if len(data) != 1 << 20 or data[1] != (131 + 7) & 0xFF:
            raise RuntimeError("readMemory returned %d bytes, wrong contents" % len(data))
        self.log("row 6: corral readMemory")
        body = call_body("target.readMemory", tid, addr, 1 << 20)
        best = None
        for _ in range(self.R):
            between()
            r = self.wrk(self.corral, 1, self.round_secs, body=body)
            if r.get("errors"):
                raise RuntimeError("%d errors under load" % r["errors"])
            if r["rps"] is None:
                return r.get("error")
            best = max(best or 0, r["rps"])
        return best

    def row7_scale(self):
        """Idle RSS, 5,000 idle keep-alive connections, 1,000 live targets, TLS."""
        nconn = 1000 if self.a.quick else 5000
        ntarg = 200 if self.a.quick else 1000
        now = {n: rss_kib(t.server.pid) / 1024 for n, t in
               (("corral", self.corral), ("nginx", self.servers.get("nginx"))) if t}
        self.add(7, "idle server RSS at start, MiB", self.idle_rss.get("corral", NOT_BUILT),
                 "nginx", self.idle_rss.get("nginx", "peer missing"), "MiB", better="lower",
                 goal=("<=", 20.0), goal_on="value",
                 note="after the rows above: corral %s, nginx %s MiB"
                 % (fmt(now.get("corral", NOT_BUILT)), fmt(now.get("nginx", ""))))
        per = {}
        for n in ("corral", "nginx"):
            tgt = self.corral if n == "corral" else self.servers.get(n)
            if tgt is None or (n == "corral" and not self.has("server.echo")):
                per[n] = NOT_BUILT if n == "corral" else "peer missing"
                continue
            self.log("row 7: %s %d idle connections" % (n, nconn))
            per[n] = self.idle_connections(tgt, nconn)
        self.add(7, "%d idle keep-alive conns, KiB/conn" % nconn, per["corral"], "nginx",
                 per["nginx"], "KiB", better="lower", goal=("<=", 32.0), goal_on="value",
                 note="RSS growth / connections, each after one server.echo")

        per_t, rnd, launch_s = NOT_BUILT, NOT_BUILT, NOT_BUILT
        if self.has("target.launch", "target.info"):
            self.log("row 7: corral %d live targets" % ntarg)
            try:
                per_t, rnd, launch_s = self.many_targets(ntarg)
            except Exception as e:  # noqa: BLE001
                per_t = rnd = launch_s = "error: %s" % str(e)[:80]
        self.add(7, "%d live targets, server KiB/target" % ntarg, per_t, "-", None, "KiB",
                 better="lower", goal=("<=", 256.0), goal_on="value",
                 note="corrald RSS growth / targets (stopped at entry)")
        self.add(7, "targets launched/s, 4 clients at once", launch_s, "posix_spawn+waitpid",
                 self.raw.get("spawn_floor", {}).get("spawn", ("peer missing",))[0], "/s",
                 note=getattr(self, "launch_drift", ""))
        self.add(7, "target.info to random of %d, c=64 req/s" % ntarg, rnd,
                 "target.info one target", fig(getattr(self, "tinfo_one", NOT_BUILT), "rps"),
                 "req/s", note="interleaved rounds, with the %d targets alive" % ntarg)
        self.tls_rows()

    def idle_connections(self, tgt, n):
        host, port = "127.0.0.1", tgt.server.port
        body = call_body("server.echo", ECHO_VALUE)
        auth = ("Authorization: %s\r\n" % tgt.auth()) if tgt.auth() else ""
        req = ("POST /RPC2 HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: text/xml\r\n%s"
               "Content-Length: %d\r\n\r\n" % (host, port, auth, len(body))).encode() + body
        pid = tgt.server.pid
        time.sleep(0.3)
        before = rss_kib(pid)
        socks, failed = [], 0
        t_end = time.time() + max(30, self.D * 6)
        try:
            for _ in range(n):
                if time.time() > t_end:
                    break
                try:
                    s = socket.create_connection((host, port), timeout=5)
                    s.sendall(req)
                    got = b""
                    while b"</methodResponse>" not in got:
                        chunk = s.recv(65536)
                        if not chunk:
                            raise OSError("closed")
                        got += chunk
                    socks.append(s)
                except OSError:
                    failed += 1
            time.sleep(0.5)
            after = rss_kib(pid)
        finally:
            for s in socks:
                s.close()
        if not socks:
            return "error: no connection stayed open"
        if failed:
            self.log("%d of %d connections failed" % (failed, n))
        return (after - before) / len(socks)

    def many_targets(self, n):
        pid = self.corral.server.pid
        time.sleep(0.3)
        before = rss_kib(pid)
        ids, errs, stamps, lock = [], [], [], threading.Lock()
        spec = {"argv": [self.fixture], "stopAtEntry": True, "stdin": "null"}
        deadline = time.time() + max(60, self.D * 12)

        def worker():
            p = self.corral.proxy()
            while time.time() < deadline:
                with lock:
                    if len(ids) >= n or len(errs) > 5:
                        return
                try:
                    tid = p.target.launch(spec)["id"]
                    with lock:
                        ids.append(tid)
                        stamps.append(time.perf_counter())
                except Exception as e:  # noqa: BLE001
                    with lock:
                        errs.append(str(e)[:80])

        t0 = time.perf_counter()
        th = [threading.Thread(target=worker) for _ in range(4)]
        for t in th:
            t.start()
        for t in th:
            t.join(timeout=max(70, self.D * 13))
        launch_s = len(ids) / (time.perf_counter() - t0)
        k = max(1, len(stamps) // 10)
        if len(stamps) > 2 * k:
            self.launch_drift = "first %d at %s/s, last %d at %s/s" % (
                k, fmt(k / (stamps[k - 1] - t0)), k,
                fmt(k / (stamps[-1] - stamps[-k - 1])))
        if errs:
            self.log("target launches failed: %s" % errs[:3])
        if len(ids) < n:
            raise RuntimeError("only %d of %d targets launched: %s" % (len(ids), n, errs[:1]))
        time.sleep(0.5)
        per = (rss_kib(pid) - before) / len(ids)
        self.log("row 7: target.info to random targets")
        res = self.rounds([("random", self.corral, {"template": call_body("target.info", "%ID%"),
                                                     "ids": ids}),
                           ("one", self.corral, call_body("target.info", ids[0]))], 64)
        r = res["random"]
        self.tinfo_one = res["one"]
        if isinstance(r, str):
            rnd = r
        else:
            rnd = r["rps"] if not r.get("errors") else "error: %d errors" % r["errors"]
        # Leave the targets to corrald's shutdown (it ends them on SIGTERM).
        return per, rnd, launch_s

    def tls_rows(self):
        handshakes, tls_echo = NOT_BUILT, NOT_BUILT
        if self.corral is not None and shutil.which("openssl") and self.corral_has_tls():
            try:
                handshakes, tls_echo = self.tls_measure()
            except Exception as e:  # noqa: BLE001
                handshakes = tls_echo = "error: %s" % str(e)[:80]
        self.add(7, "TLS server.echo c=64 req/s", tls_echo, "corral plain HTTP",
                 getattr(self, "plain_ka", None), "req/s", note="second corrald with --tls-cert")
        self.add(7, "TLS handshakes/s (Connection: close) c=16", handshakes, "corral plain HTTP",
                 getattr(self, "plain_close", None), "/s",
                 note="plain: the same loop, a new HTTP connection per call")

    def corral_has_tls(self):
        try:
            out = subprocess.run([self.corrald, "--help"], capture_output=True, text=True,
                                 timeout=10)
            return "--tls-cert" in out.stdout + out.stderr
        except (subprocess.SubprocessError, OSError):
            return False

    def tls_measure(self):
        d = os.path.join(self.tmp, "tls")
        os.makedirs(d, exist_ok=True)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        srv = Server("corrald-tls", [self.corrald, "--listen", "127.0.0.1:0", "--state-dir",
                                     os.path.join(d, "state"), "--node", "bench", "--users",
                                     os.path.join(self.tmp, "corral", "users"),
                                     "--tls-cert", cert, "--tls-key", key],
                     self.a.server_cpu, self.logdir)
        try:
            tgt = Target(srv, "bench", self.corral_token)
            err = self.verify_echo(tgt)
            if err:
                raise RuntimeError(err)
            body = call_body("server.echo", ECHO_VALUE)
            self.log("row 7: TLS")
            ka = self.rounds([("tls", tgt, body), ("plain", self.corral, body)], 64)
            cl = self.rounds([("tls", tgt, {"body": body, "close": True}),
                              ("plain", self.corral, {"body": body, "close": True})], 16)
            self.plain_ka, self.plain_close = fig(ka["plain"], "rps"), fig(cl["plain"], "rps")
            return fig(cl["tls"], "rps"), fig(ka["tls"], "rps")
        finally:
            srv.stop()

    # ================================================================ output

    def run(self):
        os.sched_setaffinity(0, {self.a.client_cpu})
        self.load0 = os.getloadavg()
        self.t0 = time.time()
        self.start_peers()
        self.start_corral()
        time.sleep(0.5)     # let the servers settle before reading their RSS
        self.idle_rss = {n: rss_kib(t.server.pid) / 1024 for n, t in
                         [("corral", self.corral)] + list(self.servers.items()) if t}
        if self.corral is not None and not self.has("server.echo"):
            self.log("corral answers but has no server.echo")
        steps = [self.row1_echo, self.row2_actors, self.row3_broker, self.row4_client,
                 self.row5_launch, self.row6_readmemory, self.row7_scale]
        for step in steps:
            t0 = time.time()
            try:
                step()
            except Exception as e:  # noqa: BLE001 - one broken row must not hide the others
                import traceback
                traceback.print_exc()
                self.log("%s failed: %s" % (step.__name__, e))
            self.log("%s took %.1fs" % (step.__name__, time.time() - t0))
            if self.corral is not None and not self.corral.server.alive():
                self.log("corrald died! stderr tail:\n" + self.corral.server.stderr()[-3000:])
                self.methods = set()
        if self.corral is not None:
            self.corral.server.stop()
        for s in self.servers.values():
            s.server.stop()
        self.write()

    def write(self):
        os.makedirs(self.out, exist_ok=True)
        head = ["row", "measurement", "corral", "vs", "peer", "corral/peer", "goal", "met", "notes"]
        lines = []
        for r in self.rows:
            goal = ""
            if r["goal"]:
                g = r["goal"]
                goal = "%s%s%s" % (g[0].replace(">=", "≥").replace("<=", "≤"), fmt(g[1]),
                                   "" if r["goal_on"] == "ratio" else " " + r["unit"])
            lines.append([str(r["row"]), r["measure"], short(fmt(r["corral"])), r["peer_name"],
                          short(fmt(r["peer"])) if r["peer"] is not None else "",
                          "%.2f" % r["ratio"] if r["ratio"] is not None else "",
                          goal, r["met"], r["note"]])
        widths = [max(len(h), *(len(ln[i]) for ln in lines)) if lines else len(h)
                  for i, h in enumerate(head)]
        widths[-1] = len(head[-1])
        sep = "  "
        text = [sep.join(h.ljust(w) for h, w in zip(head, widths)),
                sep.join("-" * w for w in widths)]
        last = None
        for ln in lines:
            if last is not None and ln[0] != last:
                text.append("")
            last = ln[0]
            text.append(sep.join(c.ljust(w) for c, w in zip(ln, widths)).rstrip())
        header = ("corral benchmarks %s — %s mode, %ss per load run; servers on cpu %s, "
                  "wrk and Python clients on cpu %s (taskset)"
                  % (time.strftime("%Y-%m-%d %H:%M:%S"), "quick" if self.a.quick else "full",
                     fmt(self.D), self.a.server_cpu, self.a.client_cpu))
        header += ("\nbest of %d interleaved rounds of %ds per load figure; load average "
                   "%.2f at start, %.2f at end (>0 means something else ran too); took %.0fs"
                   % (self.R, self.round_secs, self.load0[0], os.getloadavg()[0],
                      time.time() - self.t0))
        if self.others:
            header += ("\nduring load runs, other programs (and softirqs) took %.0f%% of cpu %s on average "
                       "(worst run %.0f%%)" % (statistics.mean(self.others), self.a.server_cpu,
                                             max(self.others)))
        table = header + "\n" + "\n".join(text) + "\n"
        print(table)
        with open(os.path.join(self.out, "table.txt"), "w") as f:
            f.write(table)
        with open(os.path.join(self.out, "results.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["row", "measurement", "unit", "corral", "vs", "peer", "ratio", "goal",
                        "met", "notes"])
            for r in self.rows:
                w.writerow([r["row"], r["measure"], r["unit"], csvv(r["corral"]), r["peer_name"],
                            csvv(r["peer"]), "%.4f" % r["ratio"] if r["ratio"] is not None else "",
                            "%s %s" % r["goal"] if r["goal"] else "", r["met"], r["note"]])
        self.chart()
        print("results in %s (table.txt, results.csv, chart.png, logs/)" % self.out)

    def chart(self):
        """chart.png: server.echo req/s per server (left) and, for every goal,
        how far corral is past it (right; 1 = exactly on the goal)."""
        if not shutil.which("gnuplot"):
            self.log("no gnuplot: no chart")
            return
        names = ["corral", "nginx", "abyss", "py-threading", "py-plain"]
        d1 = os.path.join(self.out, "echo.dat")
        with open(d1, "w") as f:
            f.write("server c16 c64\n")
            for n in names:
                v = [fig(self.echo.get((n, c), None), "rps") if hasattr(self, "echo") else None
                     for c in (16, 64)]
                f.write("%s %s %s\n" % (n, *(("%.1f" % x) if isinstance(x, float) else "0"
                                              for x in v)))
        d2 = os.path.join(self.out, "goals.dat")
        with open(d2, "w") as f:
            f.write("goal attainment\n")
            for r in self.rows:
                if not r["goal"]:
                    continue
                subject = r["ratio"] if r["goal_on"] == "ratio" else r["corral"]
                if not isinstance(subject, (int, float)) or subject <= 0:
                    att = 0
                else:
                    att = subject / r["goal"][1] if r["goal"][0] == ">=" else r["goal"][1] / subject
                label = (r["measure"] + " vs " + r["peer_name"] if r["goal_on"] == "ratio"
                         else r["measure"]).replace('"', "'")
                f.write('"%s" %.4f\n' % (label[:48], att))
        gp = os.path.join(self.out, "chart.gp")
        with open(gp, "w") as f:
            f.write("""set terminal pngcairo size 1600,760 font ",10" noenhanced
set output "%(png)s"
set multiplot layout 1,2 title "corral benchmarks: %(title)s"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel "server.echo requests/s (log)"
set xtics rotate by -30
set key top right
set title "server.echo keep-alive, server on cpu %(sc)s, wrk on cpu %(cc)s"
set xrange [-0.6:4.6]
plot "%(d1)s" using 2:xtic(1) title "16 connections", "" using 3 title "64 connections"
unset logscale y
set title "goals: how far corral is past each (>= 1 meets it; 0 = not built; capped at 3)"
set ylabel "attainment"
set xrange [-0.6:*]
set yrange [0:3]
set xtics rotate by -60 font ",8"
set style histogram clustered gap 1
unset key
plot "%(d2)s" using 2:xtic(1) lc rgb "#4477aa", 1 with lines lc rgb "red" lw 2
unset multiplot
""" % {"png": os.path.join(self.out, "chart.png"), "d1": d1, "d2": d2,
       "sc": self.a.server_cpu, "cc": self.a.client_cpu,
       "title": "quick" if self.a.quick else "full"})
        r = subprocess.run(["gnuplot", gp], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            self.log("gnuplot: " + r.stderr[-500:])


# ---------------------------------------------------------------- formatting

def fig(r, key):
    """A figure out of a wrk result, or the reason there is none."""
    if r is None:
        return None
    if isinstance(r, str):
        return r
    if "error" in r and r.get(key) is None:
        return "error"
    return r.get(key)


def fmt(v):
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        v = float(v)
    if abs(v) >= 100000:
        return "%.0fk" % (v / 1000)
    if abs(v) >= 10000:
        return "%.1fk" % (v / 1000)
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def short(s):
    """Table cells stay narrow; the CSV keeps an error's whole text."""
    return s if len(s) <= 16 else s[:15] + "…"


def csvv(v):
    return "" if v is None else ("%.3f" % v if isinstance(v, float) else str(v))


def us(v):
    if isinstance(v, (int, float)):
        return "%.0fµs" % v if v < 1000 else "%.2fms" % (v / 1000)
    return str(v)


def pct(v):
    return "%.0f%%" % v if isinstance(v, (int, float)) else str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corral-bin", required=True, help="directory holding corrald")
    ap.add_argument("--peers", required=True, help="directory holding the bench_* programs")
    ap.add_argument("--out", required=True, help="results directory")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--duration", type=int, default=None, help="seconds per load run")
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    ap.add_argument("--python", default=sys.executable, help="Python for the Python peers")
    a = ap.parse_args()
    if a.duration is None:
        a.duration = 2 if a.quick else 5
    Bench(a).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
