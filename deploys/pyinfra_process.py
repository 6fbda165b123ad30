"""The child process ``run_deploy`` starts (``python -m deploys.pyinfra_process``): pyinfra itself.

It patches the process for gevent, loads the inventory, runs each stage (``deploys/stages.py``)
as one pyinfra State (``deploys/pyinfra_stage.py``) and writes the JSON events, the last being
every host's result over its stages, on stdout; pyinfra's own output and log go to stderr,
secrets blanked.
"""

from __future__ import annotations

import argparse
import logging
import sys

from egov.results import Result
from egov.secrets import RedactingFilter


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploys.pyinfra_process")
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--host", action="append", default=[])
    parser.add_argument("--dry", action="store_true")
    parser.add_argument("--diff", action="store_true")
    parser.add_argument("--secrets")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    from gevent import monkey

    monkey.patch_all()
    args = _arguments(argv)
    out = sys.stdout
    sys.stdout = sys.stderr  # anything pyinfra prints goes to the log, never into the events
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())  # pyinfra's diffs of files holding passwords

    from deploys.context import DeployContext, set_context
    from deploys.pyinfra_stage import emit, run_stage
    from deploys.stages import members, merge_stage_results, plan_stages
    from egov.secrets import Secrets
    from inventory import load_inventory
    from inventory.pyinfra_bridge import pyinfra_groups

    inv = load_inventory(args.inventory)
    set_context(DeployContext.of(inv, Secrets(args.secrets)))
    groups = pyinfra_groups(inv)
    names = [ssh_name for ssh_name, data in members(groups) if data.get("egov_name", ssh_name) in args.host]
    results: dict[str, Result] = {}
    for stage, only in plan_stages(names, groups):
        for name, result in run_stage(groups, stage, only, args.dry, args.diff, out).items():
            results[name] = merge_stage_results(results.get(name), result)
    emit(out, {"event": "result", "results": {name: r.to_dict() for name, r in results.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
