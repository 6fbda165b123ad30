#!/usr/bin/env bash
# `make demo`: the main job on the lab (inventory/lab.yml), one line per step with its duration.
# Build the lab, provision the data centre, configure the province core routers, then bring up
# one district node and print its verdict. Each command's own output (image builds, apt, tables)
# goes to $EGOV_LOG_DIR/demo.log (default /var/log/egov), shown when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/steps.sh
. scripts/steps.sh
steps_log demo

EGOV=${EGOV_VENV:-.venv}/bin/egov
INVENTORY=${EGOV_INVENTORY:-inventory/lab.yml}
SITE=${EGOV_DEMO_SITE:-tien-yen}

echo "demo: the lab from $INVENTORY, then node $SITE (log: $STEPS_LOG)"
step "inventory valid" "$EGOV" inventory validate -i "$INVENTORY"
step "lab up (images, containers)" "$EGOV" lab up -i "$INVENTORY"
step "deploy the province's hosts" "$EGOV" deploy -i "$INVENTORY" --limit province
step "push the province core routers" "$EGOV" net push -i "$INVENTORY" --limit province
step "node up $SITE" "$EGOV" node up -i "$INVENTORY" "$SITE"

built=$(grep -m1 ': valid (' "$STEPS_LOG" | sed 's/.*: valid (lab): //')
verdict=$(grep -E "^$SITE: " "$STEPS_LOG" | tail -n 1)
echo "demo: built the lab ($built); the province deployed and its core routers configured"
echo "demo: $verdict; done in $(steps_total)s (log: $STEPS_LOG)"
