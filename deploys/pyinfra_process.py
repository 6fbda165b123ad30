"""The child process ``run_deploy`` starts (``python -m deploys.pyinfra_process``): pyinfra itself,
for one batch of steps (hosts that start together, with the same roles).

It patches the process for gevent, loads the inventory, runs the batch as one pyinfra State
(``deploys/pyinfra_stage.py``) and writes the JSON events, the last being each host's result,
on stdout; pyinfra's own output and log go to stderr, secrets blanked.

SIGINT or SIGTERM: no operation starts after the one running, which finishes; the hosts that still
had operations to run are reported ``interrupted`` (a re-run converges).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from egov.results import Result
from egov.secrets import RedactingFilter


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploys.pyinfra_process")
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--host", action="append", default=[])
    parser.add_argument("--only", help="comma-separated roles to apply (default: all of each host's)")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--dry", action="store_true")
    parser.add_argument("--diff", action="store_true")
    parser.add_argument("--secrets")
    return parser.parse_args(argv)


class Interrupt:
    """On SIGINT/SIGTERM: take every host still executing out of the State, so no new operation
    starts (the running one finishes), and remember them as left mid-way."""

    def __init__(self) -> None:
        self.signal = ""
        self.hosts: set[str] = set()

    def __call__(self, signum: int) -> None:
        from pyinfra.context import ctx_state

        from deploys import pyinfra_internals as internals
        from deploys.pyinfra_stage import name_of

        self.signal = signal.Signals(signum).name
        state = ctx_state.get()
        if state is not None:
            active = list(state.inventory.get_active_hosts())
            self.hosts |= {name_of(h) for h in active}
            internals.sit_out(state, active)

    def mark(self, results: dict[str, Result]) -> None:
        """Fail the hosts left mid-way, saying so."""
        for name in self.hosts & set(results):
            r = results[name]
            results[name] = Result(target=name, changed=r.changed, failed=True, diff=r.diff,
                                   error=f"interrupted ({self.signal}) with operations left to run: "
                                         "a re-run converges",
                                   data={**r.data, "interrupted": True})


def main(argv: list[str]) -> int:
    from gevent import monkey

    monkey.patch_all()
    args = _arguments(argv)
    out = sys.stdout
    sys.stdout = sys.stderr  # anything pyinfra prints goes to the log, never into the events
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())  # pyinfra's diffs of files holding passwords

    import gevent

    from deploys import fact_cache
    from deploys.context import DeployContext, set_context
    from deploys.graph import members
    from deploys.pyinfra_stage import emit, run_stage
    from egov.connection import state_dir
    from egov.secrets import Secrets
    from inventory import load_inventory
    from inventory.pyinfra_bridge import pyinfra_groups

    interrupt = Interrupt()
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, interrupt, signum)
    inv = load_inventory(args.inventory)
    set_context(DeployContext.of(inv, Secrets(args.secrets), run_id=args.run_id))
    groups = pyinfra_groups(inv)
    names = [ssh_name for ssh_name, data in members(groups) if data.get("egov_name", ssh_name) in args.host]
    only = tuple(args.only.split(",")) if args.only else None
    memos = state_dir(inv.path, inv.environment) / fact_cache.MEMOS
    results = run_stage(groups, names, only, args.dry, args.diff, out, memos)
    interrupt.mark(results)
    emit(out, {"event": "result", "results": {name: r.to_dict() for name, r in results.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
