#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<name>/: a handful of valid
inputs and edge cases per harness, so the fuzzer starts from the grammar
instead of discovering it. Run again after changing a seed; the files are
kept in the tree (the replay test reads them). Input formats are described
in fuzz_targets.h (the HTTP harness takes two leading control bytes)."""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def mp(v):
    """A minimal msgpack encoder (Python has none in its stdlib)."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if v >= 0:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, bytes):
        return b"\xc4" + bytes([len(v)]) + v
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


def http_seeds():
    body = (b"<?xml version='1.0'?><methodCall><methodName>server.echo</methodName>"
            b"<params><param><value><string>x</string></value></param></params></methodCall>")
    auth = b"Authorization: Basic YWRtaW46dG9rZW4=\r\n"
    post = b"POST /RPC2 HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    chunked = (b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
    seeds = {
        "get_health": b"\x00\x80GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        "post_echo": b"\x00\x40" + post,
        "pipelined": b"\x00\xc0" + post + post + b"GET /metrics?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "chunked": b"\x00\x60" + chunked,
        "chunked_small_limits": b"\x02\x30" + chunked,
        "expect_continue": b"\x00\xff" + b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        "smuggle_te_cl": b"\x00\x80POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "cl_twice": b"\x00\x80POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        "cl_4gib": b"\x00\x80POST /RPC2 HTTP/1.1\r\nContent-Length: 4294967296\r\n\r\n",
        "bare_lf": b"\x00\x80GET / HTTP/1.1\nHost: x\n\n",
        "obs_fold": b"\x00\x80GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
        "header_too_big": b"\x01\x80GET / HTTP/1.1\r\n" + b"X-A: " + b"v" * 100 + b"\r\n\r\n",
        "uri_too_long": b"\x01\x80GET /" + b"a" * 100 + b" HTTP/1.1\r\n\r\n",
        "absolute_form": b"\x00\x80GET http://host:1/RPC2?q#f HTTP/1.1\r\n\r\n",
        "http2": b"\x00\x80GET / HTTP/2.0\r\n\r\n",
        "lead_crlf": b"\x00\x05\r\nGET / HTTP/1.1\r\n\r\n",
        "empty": b"\x00\x00",
    }
    return seeds


def xmlrpc_seeds():
    def call(params, name="server.echo"):
        return ("<?xml version='1.0'?><methodCall><methodName>%s</methodName><params>%s</params></methodCall>"
                % (name, "".join("<param><value>%s</value></param>" % p for p in params))).encode()
    return {
        "echo_string": call(["<string>hello</string>"]),
        "every_scalar": call(["<int>1</int>", "<i4>-2</i4>", "<i8>9223372036854775807</i8>",
                              "<ex:i8 xmlns:ex='x'>5</ex:i8>", "<boolean>1</boolean>", "bare",
                              "<double>-1.5e10</double>", "<dateTime.iso8601>20261203T10:11:12</dateTime.iso8601>",
                              "<dateTime.iso8601>2026-12-03T10:11:12.5+01:00</dateTime.iso8601>",
                              "<base64>AAECAw==</base64>", "<nil/>", "<string>&lt;&amp;&#233;&#x1F600;</string>"]),
        "struct_array": call(["<struct><member><name>a</name><value><array><data><value>1</value>"
                              "<value><struct/></value></data></array></value></member></struct>"]),
        "no_params": b"<methodCall><methodName>system.listMethods</methodName></methodCall>",
        "cdata": call(["<string><![CDATA[<x>]]></string>"]),
        "doctype_xxe": b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
                       b"<methodCall><methodName>a</methodName><params><param><value>&e;</value></param></params></methodCall>",
        "deep": call(["<array><data><value>" * 70 + "1" + "</value></data></array>" * 70]),
        "bad_int": call(["<i4>2147483648</i4>"]),
        "bad_i8": call(["<i8>-9223372036854775809</i8>"]),
        "bad_base64": call(["<base64>A===</base64>"]),
        "bad_utf8": call(["<string>@</string>"]).replace(b"@", b"\xc3\x28"),
        "late_year": call(["<dateTime.iso8601>99991231T23:59:59-01:00</dateTime.iso8601>"]),
        "methodresponse": b"<methodResponse><params/></methodResponse>",
    }


def envelope_seeds():
    req = {"v": 1, "k": 0, "id": 7, "to": "sup@test", "who": {"user": "admin", "role": "admin"},
           "dl": 1700000000000, "m": "server.echo", "p": [1, "two", 3.5, None, True, b"\x00", [{"a": []}]]}
    lying = bytearray(mp(req))
    return {
        "request": mp(req),
        "reply": mp({"v": 1, "k": 1, "id": 7, "r": {"x": [1, 2, -3]}}),
        "fault": mp({"v": 1, "k": 1, "id": 9, "f": {"c": -32602, "s": "bad"}}),
        "event": mp({"v": 1, "k": 2, "id": 1, "to": "g@test", "m": "gone", "p": ["t1@test"]}),
        "control": mp({"v": 1, "k": 3, "id": 2, "m": "hello", "p": [], "from": "a1@test"}),
        # a reply whose result is a msgpack timestamp (ext -1, 8 bytes)
        "timestamp": (b"\x84\xa1v\x01\xa1k\x01\xa2id\x03\xa1r"
                      b"\xd7\xff" + struct.pack(">Q", (5 << 34) | 1700000000)),
        # a reply whose result is a 32-bit float (not a value type)
        "float32": b"\x84\xa1v\x01\xa1k\x01\xa2id\x03\xa1r\xca\x3f\x80\x00\x00",
        "str32_lies": b"\x81\xa1v\xdb\xff\xff\xff\xff",
        "array32_lies": b"\x82\xa1v\x01\xa1p\xdd\x7f\xff\xff\xff\x01",
        "map16_lies": b"\xde\xff\xff\xa1v\x01",
        "truncated": bytes(lying[:-5]),
    }


def logfmt_seeds():
    return {
        "simple": b"hits=42 symbol=main note=\"two words\"",
        "numbers": b"a=1 b=-2 c=3.5 d=1e10 e=+7 f=9223372036854775808 g=1e999 h=0x10",
        "flags_dup": b"flag a=1 a=2 flag",
        "escapes": b"s=\"q\\\"uote\\\\ \\n\\t\\r\\/\" t=\"\"",
        "bad_escape": b"s=\"\\x\"",
        "unterminated": b"s=\"abc",
        "lines": b"a=1\nb=2\r\n\n  \nc=\"x y\"\n",
        "utf8": "k=ünï v=\"✓ 𝄞\"".encode(),
        "bad_utf8": b"k=\xc3\x28",
        "eq_first": b"=x",
    }


def descriptor_seeds():
    return {
        "full": b"<analysis name='full' version='1.2'><description>d</description><program>/bin/true</program>"
                b"<param name='n' type='int' required='true' flag='--count'>how many</param>"
                b"<param name='x' type='double' default='1.5'/><param name='b' type='bool' default='true' flag='-b'/>"
                b"<param name='t' type='target'/><param name='s' type='string' default='hi'>s</param></analysis>",
        "minimal": b"<analysis name='m' version='1'><program>prog.sh</program></analysis>",
        "bad_default": b"<analysis name='w' version='1'><program>p</program><param name='n' type='int' default='abc'/></analysis>",
        "doctype": b"<!DOCTYPE a [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><analysis name='z' version='1'><program>&e;</program></analysis>",
        "not_xml": b"<analysis name='x' version='1'><program>",
        "bad_type": b"<analysis name='y' version='1'><param name='n' type='weird'/></analysis>",
        "traversal_name": b"<analysis name='../../etc' version='1'><program>../../../bin/sh</program></analysis>",
        "dup_param": b"<analysis name='v' version='1'><program>p</program><param name='n' type='int'/><param name='N' type='string'/></analysis>",
    }


def write(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for k, v in seeds.items():
        with open(os.path.join(d, k), "wb") as f:
            f.write(v)


if __name__ == "__main__":
    write("http", http_seeds())
    write("xmlrpc", xmlrpc_seeds())
    write("envelope", envelope_seeds())
    write("logfmt", logfmt_seeds())
    write("descriptor", descriptor_seeds())
