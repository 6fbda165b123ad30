"""A stand-in for ``python -m deploys.pyinfra_process`` in the runner's unit tests: same arguments,
same JSON events, no pyinfra and no host. Each call is logged (hosts, roles, start and end times)
as one JSON line to ``$EGOV_FAKE_CHILD_LOG``; the hosts named in ``$EGOV_FAKE_CHILD_FAIL`` fail; each
host takes ``$EGOV_FAKE_CHILD_SECONDS``; on SIGINT the hosts not yet done are reported interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inventory")
    parser.add_argument("--host", action="append", default=[])
    parser.add_argument("--only")
    parser.add_argument("--run-id")
    parser.add_argument("--dry", action="store_true")
    parser.add_argument("--diff", action="store_true")
    parser.add_argument("--secrets")
    args = parser.parse_args(argv)
    failing = set(os.environ.get("EGOV_FAKE_CHILD_FAIL", "").split(","))
    pause = float(os.environ.get("EGOV_FAKE_CHILD_SECONDS", "0.05"))
    stopped: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: stopped.append(signum))  # as the real child: finish the op
    started = time.monotonic()
    results = {}
    for host in args.host:
        if stopped:
            results[host] = {"target": host, "failed": True, "error": "interrupted (SIGINT) with operations left",
                             "data": {"changes": 0, "changed_ops": [], "ops": 1, "seconds": 0.0, "failed_op": "",
                                      "interrupted": True}}
            continue
        print(json.dumps({"event": "plan", "host": host, "ops": 1}), flush=True)
        time.sleep(pause)
        status = "failed" if host in failing else "changed"
        print(json.dumps({"event": "op", "host": host, "op": "an op", "status": status}), flush=True)
        print(json.dumps({"event": "done", "host": host, "status": "failed" if host in failing else "ok"}), flush=True)
        results[host] = {"target": host, "changed": host not in failing, "failed": host in failing,
                         "error": "operation failed: an op" if host in failing else "",
                         "data": {"changes": 1, "changed_ops": ["an op"], "ops": 1, "seconds": 0.05,
                                  "failed_op": "an op" if host in failing else "", "dry": args.dry}}
    print(json.dumps({"event": "result", "results": results}), flush=True)
    with open(os.environ["EGOV_FAKE_CHILD_LOG"], "a") as log:
        log.write(json.dumps({"hosts": args.host, "only": args.only, "run_id": args.run_id, "start": started,
                              "end": time.monotonic()}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
