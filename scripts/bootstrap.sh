#!/usr/bin/env bash
# Install what egov needs on a fresh Debian 12 machine, idempotently: Debian packages for the
# lab engine, validators and monitoring tools, then the Python venv with egov installed.
# Safe to run again: it installs only what is missing. One line per step on the screen; apt's and
# pip's output goes to $EGOV_LOG_DIR/bootstrap.log (default /var/log/egov), shown when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the lab engine (docker.io, debootstrap, apt-cacher-ng); the validators the
# unit tests run on rendered configs (frr's vtysh -C, promtool, amtool, unbound-checkconf,
# squid -k parse, chronyd -p; chrony also as a real NTS server and client; squid-openssl, the build
# the local nodes run, also as a real proxy with a TLS parent; nginx as the mirror's TLS front, real,
# in front of a stand-in apt-cacher-ng); PostgreSQL for the
# reference application's tests; node_exporter for its TLS test; graphviz for topology SVGs;
# chromium for the on-call page's browser tests (headless, tests/support/cdp.py).
APT_PACKAGES=(
  docker.io debootstrap apt-cacher-ng iproute2 openssh-client openssh-server rsyslog rsyslog-gnutls nftables
  graphviz frr
  prometheus prometheus-alertmanager prometheus-blackbox-exporter prometheus-node-exporter
  postgresql python3-psycopg2 unbound squid-openssl chrony nginx
  chromium
  # the directory and mail checkers the unit tests run (slaptest, a real slapd, postfix check, doveconf)
  slapd ldap-utils postfix postfix-ldap dovecot-imapd dovecot-lmtpd dovecot-ldap python3-ldap3
)
# shellcheck source=scripts/steps.sh
. scripts/steps.sh
steps_log bootstrap

install_debian_packages() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || return
  # A policy-rc.d that says 101 keeps packages from starting their daemons here (there is no
  # systemd; the lab starts what it needs). Add one only where the machine has none.
  local ours=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && ours=1
  fi
  local rc=0
  apt-get install -y -q --no-install-recommends "$@" || rc=$?
  [ -z "$ours" ] || rm -f /usr/sbin/policy-rc.d
  return "$rc"
}

install_venv() {
  python3 -m venv "$VENV" &&
    "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[test]' &&
    touch "$VENV/.installed"
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "Debian packages (${#missing[@]})" install_debian_packages "${missing[@]}"
fi

VENV=${EGOV_VENV:-.venv}
if [ ! -x "$VENV/bin/egov" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
  step "Python venv $VENV" install_venv
fi
echo "bootstrap: ready ($VENV/bin/egov) in $(steps_total)s; log: $STEPS_LOG"
