"""Runs the Autobahn TestSuite cases of groups 1-10 (kosoku runner) against
the echo example on a loopback port and fails if any case FAILED.
Usage: python3 .ci/autobahn.py PATH_TO_ECHO_BINARY"""
import collections
import json
import os
import socket
import subprocess
import sys
import time

PORT = 9001
GROUPS = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]  # no group 8 exists
OUT = "target/autobahn"

server = subprocess.Popen([sys.argv[1]], env={**os.environ, "CHEESE_PORT": str(PORT)})
try:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.1)
    args = ["kosoku", "-p", "2", "-o", OUT]
    for g in GROUPS:
        args += ["-i", g]
    run = subprocess.run(args + [f"127.0.0.1:{PORT}"], capture_output=True, text=True, timeout=1200)
    print(run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr)
    report = json.load(open(os.path.join(OUT, "index.json")))
    counts = collections.Counter()
    notable = []
    for cases in report.values():
        for case, r in sorted(cases.items()):
            counts[r["behavior"]] += 1
            if r["behavior"] != "OK" or r["behaviorClose"] not in ("OK", "INFORMATIONAL"):
                notable.append(f"  {case}: {r['behavior']} / close {r['behaviorClose']} ({r.get('remoteCloseCode')})")
    print("autobahn summary:", dict(counts))
    print("\n".join(notable))
    failed = counts.get("FAILED", 0) + sum(1 for c in report.values() for r in c.values() if r["behaviorClose"] == "FAILED")
    if run.returncode != 0 or failed:
        sys.exit(f"autobahn: {failed} case(s) FAILED (kosoku exit {run.returncode}); reports in {OUT}")
finally:
    server.terminate()
    server.wait()
