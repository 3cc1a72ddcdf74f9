#!/usr/bin/env python3
"""bench/py_echo.py — the Python peers: xmlrpc.server.SimpleXMLRPCServer with
server.echo(value) -> value, system.multicall and introspection.

  py_echo.py plain      SimpleXMLRPCServer as shipped: one thread, and its
                        request handler's HTTP/1.0, so one connection per call
                        (with keep-alive a single thread would serve one client
                        until it hung up and starve the rest)
  py_echo.py threading  ThreadingMixIn: a thread per connection, HTTP/1.1
                        keep-alive, as a Python user would deploy it

Listens on 127.0.0.1 (a free port unless --port) and prints
"listening on http://127.0.0.1:PORT/RPC2" as corrald does."""

import argparse
import socketserver
import sys
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer


class KeepAliveHandler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/RPC2", "/")
    protocol_version = "HTTP/1.1"


class PlainHandler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/RPC2", "/")


class ThreadingServer(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    request_queue_size = 1024


class PlainServer(SimpleXMLRPCServer):
    request_queue_size = 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("plain", "threading"))
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    cls, handler = ((ThreadingServer, KeepAliveHandler) if a.kind == "threading"
                    else (PlainServer, PlainHandler))
    srv = cls(("127.0.0.1", a.port), requestHandler=handler, logRequests=False,
              allow_none=True, use_builtin_types=True)
    srv.register_function(lambda value, *rest: value, "server.echo")
    srv.register_multicall_functions()
    srv.register_introspection_functions()
    print("listening on http://127.0.0.1:%d/RPC2" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
