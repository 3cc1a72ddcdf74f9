#!/usr/bin/env python3
"""corral analysis template in Python (stdlib only).

Sets a breakpoint on CORRAL_PARAM_SYMBOL in CORRAL_PARAM_TARGET through the
server's XML-RPC API (CORRAL_URL, with the analysis id as user name and
CORRAL_TOKEN as password), counts hits for CORRAL_PARAM_DURATION seconds,
then reports {hits, symbol, target, address (a "0x..." string)} with
analysis.report."""
import os
import ssl
import sys
import time
import urllib.parse
import xmlrpc.client


def proxy():
    url = urllib.parse.urlsplit(os.environ["CORRAL_URL"])
    user = urllib.parse.quote(os.environ["CORRAL_ANALYSIS"], safe="")
    netloc = "%s:%s@%s" % (user, os.environ["CORRAL_TOKEN"], url.netloc)
    # Over HTTPS the server hands us the CA to trust in CORRAL_CA_FILE.
    context = None
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=os.environ["CORRAL_CA_FILE"])
        context.check_hostname = False  # the URL names an address, the certificate a host
    return xmlrpc.client.ServerProxy(urllib.parse.urlunsplit(url._replace(netloc=netloc)),
                                     allow_none=True, use_builtin_types=True, context=context)


def main():
    me = os.environ["CORRAL_ANALYSIS"]
    target = os.environ["CORRAL_PARAM_TARGET"]
    symbol = os.environ["CORRAL_PARAM_SYMBOL"]
    duration = float(os.environ.get("CORRAL_PARAM_DURATION", "2"))
    srv = proxy()
    bp = srv.target.breakpoint(target, symbol)
    print("breakpoint %d on %s at %#x" % (bp["bp"], symbol, bp["address"]), flush=True)
    hits = 0
    info = srv.target.info(target)
    if info["state"] == "stopped":
        info = srv.target.resume(target)
    end = time.monotonic() + duration
    while time.monotonic() < end:
        left = max(1, int((end - time.monotonic()) * 1000))
        info = srv.target.wait(target, left)
        if info["state"] in ("exited", "killed", "detached"):
            break
        if info["state"] != "stopped":
            continue
        if info.get("stopReason") == "breakpoint" and info.get("pc") == bp["address"]:
            hits += 1
            srv.target.resume(target)
        else:
            srv.target.resume(target)  # pass other stops (signals) on
    info = srv.target.info(target)
    if info["state"] not in ("exited", "killed", "detached"):
        srv.target.removeBreakpoint(target, bp["bp"])
        if info["state"] == "stopped":
            srv.target.resume(target)
    # Python's xmlrpc.client cannot send ints past 2**31: addresses travel
    # as "0x..." strings (API.md, Values).
    seq = srv.analysis.report(me, {"hits": hits, "symbol": symbol, "target": target,
                                   "address": "%#x" % bp["address"]})
    print("reported hits=%d as result %d" % (hits, seq), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
