"""A stand-in for ``python -m deploys.pyinfra_process`` in the runner's unit tests: same arguments,
same JSON events, no pyinfra and no host. Each call is logged (hosts, roles, start and end times)
as one JSON line to ``$EGOV_FAKE_CHILD_LOG``; the hosts named in ``$EGOV_FAKE_CHILD_FAIL`` fail; each
host takes ``$EGOV_FAKE_CHILD_SECONDS``; those in ``$EGOV_FAKE_CHILD_IDLE`` have nothing to change; on
SIGINT the hosts not yet done are reported interrupted.
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
    idle = set(os.environ.get("EGOV_FAKE_CHILD_IDLE", "").split(","))
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
        fails = host in failing and not args.dry
        changes = 0 if host in idle else 1
        if not args.dry and changes:
            print(json.dumps({"event": "op", "host": host, "op": "an op", "status": "failed" if fails else "changed"}),
                  flush=True)
        print(json.dumps({"event": "done", "host": host, "status": "failed" if fails else "ok"}), flush=True)
        results[host] = {"target": host, "changed": bool(changes) and not fails, "failed": fails,
                         "error": "operation failed: an op" if fails else "",
                         "data": {"changes": changes, "changed_ops": ["an op"] * changes, "ops": 1, "seconds": 0.05,
                                  "failed_op": "an op" if fails else "", "dry": args.dry}}
    print(json.dumps({"event": "result", "results": results}), flush=True)
    with open(os.environ["EGOV_FAKE_CHILD_LOG"], "a") as log:
        log.write(json.dumps({"hosts": args.host, "only": args.only, "dry": args.dry, "run_id": args.run_id,
                              "start": started, "end": time.monotonic()}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
