#!/usr/bin/env bash
# Installs Debian's `prometheus` package when `prometheus` or `promtool` is missing: the deploy
# checks (tests/test_deploy_alerts.py, tests/test_deploy_prometheus_e2e.py) run both. Does
# nothing when both are there. Runs as root or through sudo without a password prompt, and never
# reads standard input, so CI (.ci/run) can call it.
set -euo pipefail

if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
    exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "$0: needs root, or sudo, to install prometheus" >&2; exit 1; }
    as_root=(sudo -n)
fi
"${as_root[@]}" apt-get update -q </dev/null
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends prometheus </dev/null

# On a machine run by systemd the package starts a Prometheus service on :9090 with its default
# configuration. The tests start their own server on a free loopback port and need none, so the
# one this script brought in is stopped and left disabled.
if [ -d /run/systemd/system ]; then
    "${as_root[@]}" systemctl disable --now prometheus.service </dev/null || true
fi
command -v prometheus >/dev/null && command -v promtool >/dev/null
