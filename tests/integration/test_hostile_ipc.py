"""Hostile peers on the broker's ipc socket (STATE/ipc/broker; issue 5's
battery): msgpack envelopes whose lengths lie, absurd nesting, bad frame
layouts, a forged `from`, a hello with a wrong secret, and a peer taking
the supervisor's identity. The socket is only reachable by the server's
user (root), but an analysis host is a separate process speaking on it,
so a compromised or buggy one must not be able to crash the broker or get
anything routed. The peer is tests/tools/zmq_inject (Python's stdlib has no
ZeroMQ). Each message must be dropped with a log line, the peer get no
answer, and a normal client be served after each.

CASES is also run by test_hostile_rss (the memory check)."""

import os
import struct
import subprocess
import tempfile
import time
import unittest

from harness import BIN, ServerTestCase

INJECT = os.path.join(BIN, "tools", "zmq_inject")


def mp(v):
    """A minimal msgpack encoder for well-formed parts."""
    if v is None:
        return b"\xc0"
    if isinstance(v, bool):
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        return bytes([v]) if 0 <= v < 128 else b"\xd3" + struct.pack(">q", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


def request(to="sup@test", m="server.echo", p_bytes=None, extra=None):
    """A request envelope; p_bytes replaces the params with raw (lying) bytes."""
    head = {"v": 1, "k": 0, "id": 1, "to": to, "who": {"user": "admin", "role": "admin"},
            "dl": 4102444800000, "m": m}
    head.update(extra or {})
    body = b"".join(mp(k) + mp(v) for k, v in head.items())
    p = p_bytes if p_bytes is not None else mp(["hi"])
    return bytes([0x80 | (len(head) + 1)]) + body + mp("p") + p


# (name, identity, [message, ...] each a list of frames, log text expected)
CASES = [
    ("str32_claims_4gib", "evil1", [[b"", request(p_bytes=b"\x91\xdb\xff\xff\xff\xffabc")]], "truncated"),
    ("bin32_claims_4gib", "evil2", [[b"", request(p_bytes=b"\x91\xc6\xff\xff\xff\xffabc")]], "truncated"),
    ("ext32_claims_4gib", "evil3", [[b"", request(p_bytes=b"\x91\xc9\xff\xff\xff\xff\x01abc")]], "truncated"),
    ("array32_claims_2g_elements", "evil4", [[b"", request(p_bytes=b"\xdd\x7f\xff\xff\xff\x01")]], "truncated"),
    ("map32_claims_4g_members", "evil5", [[b"", b"\xdf\xff\xff\xff\xff\xa1v\x01"]], "truncated"),
    ("fixmap_claims_15_members", "evil6", [[b"", b"\x8f\xa1v\x01"]], "truncated"),
    ("nested_100000", "evil7", [[b"", request(p_bytes=b"\x91" * 100000 + b"\x01")]], "nested too deep"),
    ("trailing_bytes", "evil8", [[b"", request() + b"\xc0"]], "trailing bytes"),
    ("not_msgpack", "evil9", [[b"", b"\xc1" * 64]], "malformed envelope"),
    ("empty_envelope", "evil10", [[b"", b""]], "malformed envelope"),
    ("no_delimiter", "evil11", [[request()]], "frame layout"),
    ("frames_after_envelope", "evil12", [[b"", request(), b"x", b"y"]], "frame layout"),
    ("two_hundred_hops", "evil13", [[b"h"] * 200 + [b"", request()]], "frame layout"),
    # well-formed, but from a peer that never proved who it is
    ("unverified_request", "evil14", [[b"", request()]], "unverified peer"),
    ("forged_from", "evil15", [[b"", request(extra={"from": "gw@test"})]], "unverified peer"),
    ("hello_wrong_secret", "a1@test",
     [[b"", mp({"v": 1, "k": 3, "id": 1, "to": "broker", "m": "hello", "p": ["a1@test", "0" * 64]})]],
     "wrong identity or secret"),
    # a peer that takes the supervisor's identity: ROUTER refuses the
    # duplicate (no ZMQ_ROUTER_HANDOVER), so it can neither send as the
    # supervisor nor steal the supervisor's replies
    ("steal_supervisor_identity", "sup@test", [[b"", request(to="sup@test")]], None),
]


def inject(server, identity, messages, timeout_ms=500):
    args = [INJECT, "ipc://%s/ipc/broker" % server.state, identity, str(timeout_ms)]
    with tempfile.TemporaryDirectory() as tmp:
        for i, frames in enumerate(messages):
            if i:
                args.append("--")
            for j, f in enumerate(frames):
                if len(f) > 4096:   # too long for a command line in hex
                    path = os.path.join(tmp, "%d-%d" % (i, j))
                    with open(path, "wb") as out:
                        out.write(f)
                    args.append("@" + path)
                else:
                    args.append(f.hex() if f else "-")
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


class HostileIpc(ServerTestCase):

    def setUp(self):
        if not os.path.exists(INJECT):
            self.skipTest("tests/tools/zmq_inject is not built")

    def test_every_hostile_message_is_dropped_unanswered(self):
        for name, identity, messages, log in CASES:
            with self.subTest(name):
                before = self.server.stderr()
                rc, out, err = inject(self.server, identity, messages)
                self.assertIn(rc, (0, 2), err)
                self.assertNotIn("recv", out, name)   # nothing routed back to it
                self.assertServing()
                if log:
                    deadline = time.time() + 5
                    while log not in self.server.stderr()[len(before):] and time.time() < deadline:
                        time.sleep(0.05)
                    self.assertIn(log, self.server.stderr()[len(before):], name)

    def test_all_at_once_from_one_peer(self):
        messages = [m for _, _, ms, _ in CASES[:-2] for m in ms]
        rc, out, err = inject(self.server, "evil-batch", messages * 20, timeout_ms=1000)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("recv", out)
        self.assertServing()


if __name__ == "__main__":
    unittest.main()
