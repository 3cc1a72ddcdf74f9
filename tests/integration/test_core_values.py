"""Every value type of API.md §2, alone and deeply nested, round-trips unchanged
through server.echo (gateway -> broker -> supervisor -> back) and through
system.multicall; introspection answers from the method table."""

import datetime
import unittest
import xmlrpc.client

from harness import ServerTestCase

DT = xmlrpc.client.DateTime("20261203T10:11:12")

SCALARS = [
    0, 1, -1, 2**31 - 1, -2**31, 42,
    True, False,
    "", "plain", "ünïcødé ✓ 𝄞", "<&>\"'", "line1\nline2\ttab", " padded  ",
    0.0, -0.5, 3.141592653589793, 1e300, -2.5e-300,
    b"", b"\x00\x01\xff" * 50, bytes(range(256)),
    None,
]


def nested(depth):
    v = {"leaf": [1, "two", 3.0, True, None, b"six"]}
    for i in range(depth):
        v = [v, {"level": i, "s": "x" * i}] if i % 2 else {"k%d" % i: v, "n": i}
    return v


class ValuesRoundTrip(ServerTestCase):

    def test_every_scalar_round_trips_through_echo(self):
        p = self.proxy()
        for v in SCALARS:
            got = p.server.echo(v)
            self.assertEqual(got, v, repr(v))
            self.assertIs(type(got), type(v), repr(v))

    def test_datetime_round_trips(self):
        got = self.proxy(use_builtin_types=False).server.echo(DT)
        self.assertEqual(str(got), "20261203T10:11:12")
        got = self.proxy().server.echo(datetime.datetime(1999, 12, 31, 23, 59, 59))
        self.assertEqual(got, datetime.datetime(1999, 12, 31, 23, 59, 59))

    def test_i8_values_round_trip(self):
        for v in (2**31, -2**31 - 1, 2**63 - 1, -2**63):
            body = ("<?xml version='1.0'?><methodCall><methodName>server.echo</methodName>"
                    "<params><param><value><i8>%d</i8></value></param></params></methodCall>" % v)
            c = self.server.http()
            c.request("POST", "/RPC2", body, {"Content-Type": "text/xml",
                                             "Authorization": self.server.auth_header()})
            r = c.getresponse()
            data = r.read()
            self.assertEqual(r.status, 200)
            self.assertIn(b"<i8>%d</i8>" % v, data)
            self.assertEqual(xmlrpc.client.loads(data)[0][0], v)

    def test_structs_and_arrays_nest_64_levels(self):
        v = nested(60)
        self.assertEqual(self.proxy().server.echo(v), v)

    def test_mixed_big_value(self):
        v = {"list": list(range(5000)), "blob": b"z" * 100000, "text": "t" * 100000,
             "nested": [{"a": [None, True, 1.5]}] * 100}
        self.assertEqual(self.proxy().server.echo(v), v)

    def test_empty_struct_and_array(self):
        self.assertEqual(self.proxy().server.echo({}), {})
        self.assertEqual(self.proxy().server.echo([]), [])

    def test_echo_through_multicall(self):
        p = self.proxy()
        mc = xmlrpc.client.MultiCall(p)
        values = SCALARS + [nested(20)]
        for v in values:
            mc.server.echo(v)
        self.assertEqual(list(mc()), values)

    def test_multicall_mixes_results_and_faults_in_order(self):
        calls = [{"methodName": "server.echo", "params": [1]},
                 {"methodName": "no.such", "params": []},
                 {"methodName": "server.echo", "params": []},
                 {"methodName": "system.multicall", "params": [[]]},
                 {"notAMethod": 1},
                 {"methodName": "server.echo", "params": ["last"]}]
        got = self.proxy().system.multicall(calls)
        self.assertEqual(got[0], [1])
        self.assertEqual(got[1]["faultCode"], -32601)
        self.assertEqual(got[2]["faultCode"], -32602)
        self.assertEqual(got[3]["faultCode"], -32600)
        self.assertEqual(got[4]["faultCode"], -32602)
        self.assertEqual(got[5], ["last"])

    def test_multicall_of_1000_is_ordered(self):
        calls = [{"methodName": "server.echo", "params": [i]} for i in range(1000)]
        self.assertEqual(self.proxy().system.multicall(calls), [[i] for i in range(1000)])

    def test_echo_to_unknown_node_is_fault_1(self):
        self.assertFault(1, self.proxy().server.echo, "x", "nosuchnode")
        self.assertEqual(self.proxy().server.echo("x", "test"), "x")


class Introspection(ServerTestCase):

    def test_list_methods_covers_the_core(self):
        names = self.proxy().system.listMethods()
        for m in ("system.listMethods", "system.methodHelp", "system.methodSignature",
                  "system.multicall", "system.getCapabilities", "server.info", "server.echo",
                  "node.list"):
            self.assertIn(m, names)
        self.assertEqual(names, sorted(names))

    def test_every_method_has_help_and_signatures(self):
        p = self.proxy()
        for name in p.system.listMethods():
            self.assertTrue(p.system.methodHelp(name), name)
            sigs = p.system.methodSignature(name)
            self.assertIsInstance(sigs, list, name)
            for sig in sigs:
                self.assertTrue(all(isinstance(t, str) for t in sig), name)

    def test_help_of_unknown_method_is_fault(self):
        self.assertFault(-32601, self.proxy().system.methodHelp, "no.such.method")

    def test_capabilities(self):
        caps = self.proxy().system.getCapabilities()
        for k in ("xmlrpc", "introspection", "multicall", "nil", "i8", "faults_interop"):
            self.assertIn("specUrl", caps[k])

    def test_server_info_and_node_list(self):
        info = self.proxy("viewer").server.info()
        self.assertEqual(info["node"], "test")
        self.assertEqual(info["nodes"], 1)
        self.assertGreaterEqual(info["uptime"], 0)
        nodes = self.proxy("viewer").node.list()
        self.assertEqual([n["name"] for n in nodes], ["test"])
        self.assertEqual(nodes[0]["state"], "up")


if __name__ == "__main__":
    unittest.main()
