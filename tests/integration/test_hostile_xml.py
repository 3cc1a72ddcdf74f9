"""Hostile XML-RPC bodies (issue 5's battery, the XML and value part): each
gets its clear fault, nothing leaks, nothing hangs, and a normal client is
served after each. test_core_faults covers the basic cases (a DOCTYPE with
an entity to /etc/passwd, 65 levels, one bad scalar of each type); these
are the attacks themselves at full size and their variants.

CASES is also run in a loop by test_hostile_rss (the memory check)."""

import os
import tempfile
import time
import unittest
import xmlrpc.client

from harness import ServerTestCase, SLOW

# A file only XXE could read: its marker must never come back.
SECRET = "corral-xxe-secret-4f1d9a"
SECRET_FILE = os.path.join(tempfile.gettempdir(), "corral-hostile-secret.txt")
with open(SECRET_FILE, "w") as _f:
    _f.write(SECRET + "\n")


def call(value_xml, method="server.echo"):
    return ("<?xml version='1.0'?><methodCall><methodName>%s</methodName><params><param>"
            "<value>%s</value></param></params></methodCall>" % (method, value_xml)).encode()


def call_bytes(value_bytes, method=b"server.echo"):
    return (b"<?xml version='1.0'?><methodCall><methodName>" + method + b"</methodName><params><param>"
            b"<value>" + value_bytes + b"</value></param></params></methodCall>")


LOL = "<!ENTITY lol0 'lol'>" + "".join(
    "<!ENTITY lol%d '%s'>" % (i, "&lol%d;" % (i - 1) * 10) for i in range(1, 10))

# (name, body, fault code). The name says the attack.
CASES = [
    # XXE: an external entity, an external DTD, a parameter entity that
    # would fetch a DTD, and XInclude (no DOCTYPE needed for that one).
    ("xxe_general_entity",
     ("<?xml version='1.0'?><!DOCTYPE m [<!ENTITY e SYSTEM 'file://%s'>]>" % SECRET_FILE).encode()
     + call("<string>&e;</string>").split(b"?>", 1)[1], -32700),
    ("xxe_external_dtd",
     ("<?xml version='1.0'?><!DOCTYPE methodCall SYSTEM 'file://%s'>" % SECRET_FILE).encode()
     + call("x").split(b"?>", 1)[1], -32700),
    ("xxe_parameter_entity",
     ("<?xml version='1.0'?><!DOCTYPE m [<!ENTITY %% p SYSTEM 'file://%s'> %%p;]>" % SECRET_FILE).encode()
     + call("x").split(b"?>", 1)[1], -32700),
    ("xinclude",
     call("<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='file://%s' parse='text'/>"
          % SECRET_FILE), -32600),
    # an undeclared entity without any DOCTYPE
    ("undeclared_entity", call("<string>&e;</string>"), -32700),
    # billion laughs: 10^9 "lol"s if expanded; refused at the DOCTYPE
    ("billion_laughs",
     ("<?xml version='1.0'?><!DOCTYPE lolz [%s]>" % LOL).encode()
     + call("<string>&lol9;</string>").split(b"?>", 1)[1], -32700),
    # 100,000 nested arrays (4.3 MB) and structs: refused at level 65,
    # without recursion on either side
    ("nested_arrays_100000",
     call("<array><data><value>" * 100000 + "1" + "</value></data></array>" * 100000), -32602),
    ("nested_structs_100000",
     call("<struct><member><name>a</name><value>" * 100000 + "1"
          + "</value></member></struct>" * 100000), -32602),
    # 100,000 nested elements that are not values at all
    ("nested_unknown_100000", call("<x>" * 100000 + "</x>" * 100000), -32600),
    # half a million arrays opened and never closed (10 MB): too deep, but
    # not well-formed wins (-32700 whatever else is wrong, xmlrpc_decode.c)
    ("unclosed_arrays_500000", b"<?xml version='1.0'?><methodCall><methodName>server.echo</methodName>"
     b"<params><param><value>" + b"<array><data><value>" * 500000, -32700),
    # invalid UTF-8: overlong '/', a surrogate, past U+10FFFF, a lone
    # continuation byte, a truncated sequence at the very end, in a method
    # name, in a member name and in a comment (the rule is "anywhere")
    ("utf8_overlong", call_bytes(b"<string>\xc0\xaf</string>"), -32700),
    ("utf8_surrogate", call_bytes(b"<string>\xed\xa0\x80</string>"), -32700),
    ("utf8_past_10ffff", call_bytes(b"<string>\xf4\x90\x80\x80</string>"), -32700),
    ("utf8_lone_continuation", call_bytes(b"<string>\x80</string>"), -32700),
    ("utf8_truncated_at_end", call_bytes(b"x") + b"\xe2\x82", -32700),
    ("utf8_in_method_name", call_bytes(b"x", method=b"server.\xff"), -32700),
    ("utf8_in_member_name", call_bytes(b"<struct><member><name>\xc3</name><value>1</value></member></struct>"),
     -32700),
    ("utf8_in_comment", call_bytes(b"<!-- \xfe\xff --><string>x</string>"), -32700),
    ("nul_byte", call_bytes(b"<string>a\x00b</string>"), -32700),
    # character references to what XML cannot hold
    ("charref_nul", call("<string>&#0;</string>"), -32700),
    ("charref_surrogate", call("<string>&#xD800;</string>"), -32700),
    ("charref_past_10ffff", call("<string>&#x110000;</string>"), -32700),
    # bad base64
    ("base64_bad_chars", call("<base64>!!!!</base64>"), -32602),
    ("base64_one_char", call("<base64>A</base64>"), -32602),
    ("base64_too_much_padding", call("<base64>QQ===</base64>"), -32602),
    ("base64_padding_only", call("<base64>====</base64>"), -32602),
    ("base64_data_after_padding", call("<base64>QQ==QUJD</base64>"), -32602),
    ("base64_padding_inside", call("<base64>AB=C</base64>"), -32602),
    ("base64_non_ascii", call("<base64>QUJDé</base64>"), -32602),
    # integers out of range
    ("i4_over", call("<i4>2147483648</i4>"), -32602),
    ("i4_under", call("<i4>-2147483649</i4>"), -32602),
    ("i8_over", call("<i8>9223372036854775808</i8>"), -32602),
    ("i8_under", call("<i8>-9223372036854775809</i8>"), -32602),
    ("ex_i8_over", call("<ex:i8 xmlns:ex='http://ws.apache.org/xmlrpc/namespaces/extensions'>"
                        "99999999999999999999999</ex:i8>"), -32602),
    ("int_2_to_64", call("<int>18446744073709551616</int>"), -32602),
    ("i4_hex", call("<i4>0x10</i4>"), -32602),
    ("i4_exponent", call("<i4>1e3</i4>"), -32602),
    ("i4_sign_only", call("<i4>-</i4>"), -32602),
    ("i4_empty", call("<i4></i4>"), -32602),
    # a method name past the limit, and one with characters XML-RPC forbids
    ("method_name_long", call("x", method="a" * 100000), -32600),
    ("method_name_chars", call("x", method="server.echo;rm"), -32600),
]

# Values at the edges that must be accepted, unchanged.
EDGES = [
    ("<i4>2147483647</i4>", 2147483647),
    ("<i4>-2147483648</i4>", -2147483648),
    ("<i4> +7 </i4>", 7),
    ("<base64>QU JD\nRA==</base64>", b"ABCD"),
    ("<base64></base64>", b""),
    ("<string>&#x10FFFF;&#xFFFD;</string>", "\U0010ffff\ufffd"),
]


class HostileXml(ServerTestCase):

    def check_case(self, name, body, code):
        t0 = time.time()
        f = self.server.fault_of(body)
        took = time.time() - t0
        self.assertIsNotNone(f, name)
        self.assertEqual(f.faultCode, code, "%s: %s" % (name, f.faultString))
        self.assertNotIn(SECRET, f.faultString, name)
        # a fault sentence is a sentence, not an echo of a 4 MB body
        self.assertLess(len(f.faultString), 1000, name)
        self.assertLess(took, 10 * SLOW, name)

    def test_every_hostile_body_gets_its_fault_and_the_server_serves_on(self):
        for name, body, code in CASES:
            with self.subTest(name):
                self.check_case(name, body, code)
                self.assertServing()

    def test_billion_laughs_is_refused_at_once(self):
        _, body, _ = next(c for c in CASES if c[0] == "billion_laughs")
        t0 = time.time()
        self.assertEqual(self.server.fault_of(body).faultCode, -32700)
        self.assertLess(time.time() - t0, 1 * SLOW)

    def test_edge_values_are_accepted_unchanged(self):
        for xml, want in EDGES:
            with self.subTest(xml):
                status, data = self.server.post(call(xml))
                self.assertEqual(status, 200)
                self.assertEqual(xmlrpc.client.loads(data, use_builtin_types=True)[0][0], want)

    def test_64_nested_arrays_are_still_accepted(self):
        # the limit refuses the attack, not the deepest legal value
        status, data = self.server.post(call("<array><data><value>" * 64 + "<int>1</int>"
                                              + "</value></data></array>" * 64))
        self.assertEqual(status, 200)
        v = xmlrpc.client.loads(data)[0][0]
        for _ in range(63):
            v = v[0]
        self.assertEqual(v, [1])

    def test_lying_encoding_declaration_is_read_as_utf8(self):
        # The bytes are checked to be UTF-8 before libxml2 sees them and the
        # declaration is ignored, so a declared UTF-16 cannot make the parser
        # read the check's bytes differently from the check.
        body = call("<string>é</string>").replace(b"version='1.0'", b"version='1.0' encoding='UTF-16'")
        status, data = self.server.post(body)
        self.assertEqual(status, 200)
        self.assertEqual(xmlrpc.client.loads(data)[0][0], "é")


if __name__ == "__main__":
    unittest.main()
