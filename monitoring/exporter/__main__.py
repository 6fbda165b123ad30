"""``python3 -m monitoring.exporter``: how the deployed service (and ``--check``) runs the exporter."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace

import monitoring.exporter
from egov.errors import MonitoringError
from monitoring.exporter.config import load_config
from monitoring.exporter.server import serve

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    description = (monitoring.exporter.__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="egov-exporter", description=description)
    parser.add_argument("--config", default="/etc/egov/exporter.yml")
    parser.add_argument("--listen", default=None, help="host:port (overrides the config)")
    parser.add_argument("--check", action="store_true", help="only validate the config (exit 0 when valid, else 2)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
        if config.web_config:
            from monitoring.exporter.webauth import load_web_config

            load_web_config(config.web_config)
    except MonitoringError as exc:
        log.error("%s", exc)
        return 2
    if args.check:
        return 0
    if args.listen:
        config = replace(config, listen=args.listen)
    serve(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
