"""``egov node up SITE``: deploy the site's hosts, push its routers, register it with the hosts
that take every site in (monitoring, backup), then verify it, with one verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploys.runner import Progress, run_deploy
from egov.errors import DeployError
from egov.results import RunResult
from network import rollout
from network.push import Options, push
from verify import run as verify_run

if TYPE_CHECKING:
    from inventory import Inventory

# The roles whose hosts must be redeployed when a site is added, to take it in.
REGISTRARS = ("monitoring", "backup")


@dataclass
class Step:
    """One step of ``node up``: ``status`` is ``ok``, ``failed`` or ``skipped`` (with the reason)."""

    name: str
    status: str
    detail: str = ""


@dataclass
class NodeReport:
    """What ``node up SITE`` did, step by step, and its one verdict."""

    site: str
    steps: list[Step]

    @property
    def ready(self) -> bool:
        return all(s.status != "failed" for s in self.steps)

    @property
    def verdict(self) -> str:
        failed = [s.name for s in self.steps if s.status == "failed"]
        if failed:
            return f"NOT READY: {', '.join(failed)} failed"
        return "READY: provisioned, routed, registered (monitoring, backups) and verified"

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "ready": self.ready, "verdict": self.verdict,
                "steps": [{"name": s.name, "status": s.status, "detail": s.detail} for s in self.steps]}


def _summary(result: RunResult) -> tuple[str, str]:
    if result.failed:
        return "failed", "; ".join(f"{n}: {r.error}" for n, r in result.items() if r.failed)
    return "ok", f"{len(result)} targets"


def node_up(inv: Inventory, site: str, secrets: str | Path | None = None,
            on_progress: Callable[[Progress], None] | None = None) -> NodeReport:
    """Bring SITE into service: deploy its hosts, push its routers' configuration, redeploy the
    hosts that register it (``REGISTRARS``: monitoring, backup), then verify the site's hosts.

    A step that fails is reported and the later steps still run (their results say how far the
    site got); a step whose package or targets do not exist is ``skipped`` with the reason.
    """
    if site not in inv.sites:
        raise DeployError(f"{inv.path}: no site named '{site}' (sites: {', '.join(inv.sites)})")
    hosts, routers = inv.select([site])
    steps: list[Step] = []
    if hosts:
        steps.append(Step("deploy", *_summary(run_deploy(inv, [site], secrets=secrets, on_progress=on_progress))))
    else:
        steps.append(Step("deploy", "skipped", "the site has no hosts"))
    if routers:
        # the inventory's staged rollout, as `egov net push` does: never both parents of a dual-homed site at once
        plan = rollout.plan_for(inv, routers)
        steps.append(Step("network", *_summary(push(inv, routers, Options.for_inventory(inv, secrets), plan=plan))))
    else:
        steps.append(Step("network", "skipped", "the site has no routers"))
    # the monitoring hosts take their targets, the backup hosts their sources, from the inventory
    registrars = [role for role in REGISTRARS if inv.hosts_with_role(role)]
    if registrars:
        steps.append(Step("register", *_summary(run_deploy(inv, registrars, secrets=secrets,
                                                           on_progress=on_progress))))
    else:
        steps.append(Step("register", "skipped", f"no host has a role of {', '.join(REGISTRARS)}"))
    if hosts:
        steps.append(Step("verify", *_summary(verify_run(inv, [site]))))
    else:
        steps.append(Step("verify", "skipped", "the site has no hosts"))
    return NodeReport(site, steps)
