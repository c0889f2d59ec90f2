#!/usr/bin/env bash
# Installs the Debian packages the tests need, when their commands are missing:
# - a JDK and Maven: the real Kafka broker (scripts/kafka_local.py fetches its jars with mvn);
# - Debian's `prometheus` package (prometheus and promtool): the deploy checks
#   (tests/deploy/test_deploy_alerts.py, tests/deploy/test_deploy_prometheus_e2e.py).
# Does nothing when all are there. Runs as root or through sudo without a password prompt, and
# never reads standard input, so `make test` and CI (.ci/run) can call it.
set -euo pipefail

need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || need+=(prometheus)
command -v openssl >/dev/null || need+=(openssl)  # the test broker's TLS certificates
[ ${#need[@]} -eq 0 ] && exit 0

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "$0: needs root, or sudo, to install ${need[*]}" >&2; exit 1; }
    as_root=(sudo -n)
fi
"${as_root[@]}" apt-get update -q </dev/null
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${need[@]}" </dev/null

# On a machine run by systemd the prometheus package starts a service on :9090 with its default
# configuration. The tests start their own server on a free loopback port and need none, so the
# one this script brought in is stopped and left disabled.
if [[ " ${need[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    "${as_root[@]}" systemctl disable --now prometheus.service </dev/null || true
fi
command -v java >/dev/null && command -v mvn >/dev/null && command -v prometheus >/dev/null && command -v promtool >/dev/null
