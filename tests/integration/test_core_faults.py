"""Bad requests get the fault or HTTP status API.md promises, and the server
keeps serving: -32700, -32600, -32601, -32602, 401, fault 3."""

import base64
import unittest
import xmlrpc.client

from harness import ServerTestCase


class Faults(ServerTestCase):

    def post(self, body, auth=True, path="/RPC2", headers=None):
        c = self.server.http()
        h = {"Content-Type": "text/xml"}
        if auth:
            h["Authorization"] = self.server.auth_header()
        h.update(headers or {})
        c.request("POST", path, body, h)
        r = c.getresponse()
        return r, r.read()

    def fault_of(self, body):
        r, data = self.post(body)
        self.assertEqual(r.status, 200, data)
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            xmlrpc.client.loads(data)
        return cm.exception

    def test_not_well_formed_is_32700(self):
        for body in (b"<methodCall><methodName>server.echo", b"garbage", b"<a></b>",
                     b"\xff\xfe<methodCall/>", b""):
            f = self.fault_of(body)
            self.assertEqual(f.faultCode, -32700, (body, f.faultString))
        self.assertServing()

    def test_invalid_utf8_string_is_32700(self):
        body = (b"<?xml version='1.0'?><methodCall><methodName>server.echo</methodName><params>"
                b"<param><value><string>\xc3\x28</string></value></param></params></methodCall>")
        self.assertEqual(self.fault_of(body).faultCode, -32700)

    def test_doctype_is_refused(self):
        body = (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
                b"<methodCall><methodName>server.echo</methodName><params><param><value>"
                b"<string>&e;</string></value></param></params></methodCall>")
        f = self.fault_of(body)
        self.assertEqual(f.faultCode, -32700)
        self.assertNotIn("root:", f.faultString)

    def test_not_a_method_call_is_32600(self):
        for body in (b"<?xml version='1.0'?><methodResponse><params/></methodResponse>",
                     b"<methodCall><params/></methodCall>",
                     b"<methodCall><methodName>server.echo</methodName><params><param>"
                     b"<value><bogus>1</bogus></value></param></params></methodCall>"):
            self.assertEqual(self.fault_of(body).faultCode, -32600, body)

    def test_unknown_method_is_32601(self):
        f = self.assertFault(-32601, self.proxy().no.such.method)
        self.assertIn("no.such.method", f.faultString)

    def test_wrong_params_are_32602(self):
        self.assertFault(-32602, self.proxy().server.echo)
        self.assertFault(-32602, self.proxy().server.echo, 1, 2, 3)
        self.assertFault(-32602, self.proxy().server.echo, 1, 2)
        self.assertFault(-32602, self.proxy().system.methodHelp, 5)

    def test_bad_scalars_are_32602(self):
        for v in ("<int>12x</int>", "<i4>99999999999</i4>", "<i8>99999999999999999999</i8>",
                  "<boolean>2</boolean>", "<double>abc</double>", "<base64>!!!</base64>",
                  "<dateTime.iso8601>yesterday</dateTime.iso8601>"):
            body = ("<methodCall><methodName>server.echo</methodName><params><param><value>%s"
                    "</value></param></params></methodCall>" % v).encode()
            self.assertEqual(self.fault_of(body).faultCode, -32602, v)

    def test_nesting_deeper_than_64_is_32602(self):
        deep = "<value><array><data>" * 65 + "<value>1</value>" + "</data></array></value>" * 65
        body = ("<methodCall><methodName>server.echo</methodName><params><param>%s</param>"
                "</params></methodCall>" % deep).encode()
        self.assertEqual(self.fault_of(body).faultCode, -32602)
        ok = "<value><array><data>" * 64 + "<value>1</value>" + "</data></array></value>" * 64
        body = ("<methodCall><methodName>server.echo</methodName><params><param>%s</param>"
                "</params></methodCall>" % ok).encode()
        r, data = self.post(body)
        self.assertEqual(xmlrpc.client.loads(data)[0][0] is not None, True)

    def test_missing_credentials_is_401(self):
        r, _ = self.post(xmlrpc.client.dumps(("x",), "server.echo"), auth=False)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.getheader("WWW-Authenticate"), 'Basic realm="corral"')

    def test_wrong_credentials_are_401(self):
        body = xmlrpc.client.dumps(("x",), "server.echo")
        for value in ("Basic " + base64.b64encode(b"admin:wrong").decode(),
                      "Basic " + base64.b64encode(b"nobody:" + self.server.tokens["admin"].encode()).decode(),
                      "Bearer wrong", "Basic !!!notbase64", "Digest abc", ""):
            r, _ = self.post(body, auth=False, headers={"Authorization": value})
            self.assertEqual(r.status, 401, value)
        url = self.server.url("admin", token="bad")
        with self.assertRaises(xmlrpc.client.ProtocolError) as cm:
            xmlrpc.client.ServerProxy(url).server.echo(1)
        self.assertEqual(cm.exception.errcode, 401)

    def test_bearer_token_works(self):
        body = xmlrpc.client.dumps(("bearer",), "server.echo")
        r, data = self.post(body, auth=False,
                            headers={"Authorization": "Bearer " + self.server.tokens["oper"]})
        self.assertEqual(r.status, 200)
        self.assertEqual(xmlrpc.client.loads(data)[0][0], "bearer")

    def test_every_role_may_echo(self):
        for user in ("viewer", "oper", "admin"):
            self.assertEqual(self.proxy(user).server.echo(user), user)

    def test_role_too_low_is_fault_3(self):
        names = self.proxy().system.listMethods()
        # every operator-only method refuses a viewer before anything is done
        for m in ("target.launch", "target.kill", "analysis.launch", "analysis.kill"):
            if m in names:
                f = self.assertFault(3, getattr(self.proxy("viewer"), m), "t1@test")
                self.assertIn("permission denied", f.faultString)
        self.assertServing()

    def test_unknown_path_is_404_and_wrong_verb_405(self):
        r, _ = self.post(b"x", path="/nope")
        self.assertEqual(r.status, 404)
        c = self.server.http()
        c.request("GET", "/RPC2")
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 405)
        c.request("DELETE", "/health")
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 405)

    def test_health_needs_no_credentials_and_metrics_do(self):
        c = self.server.http()
        c.request("GET", "/health")
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"ok\n"))
        c.request("GET", "/metrics")
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 401)
        self.proxy().server.echo(1)
        c.request("GET", "/metrics", headers={"Authorization": self.server.auth_header("viewer")})
        r = c.getresponse()
        text = r.read().decode()
        self.assertEqual(r.status, 200)
        self.assertIn('corral_calls_total{method="server.echo",outcome="ok"}', text)
        self.assertIn("corral_call_duration_seconds_bucket", text)
        self.assertIn("corral_connections ", text)
        self.assertIn("corral_calls_in_flight ", text)


if __name__ == "__main__":
    unittest.main()
