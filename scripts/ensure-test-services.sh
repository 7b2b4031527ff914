#!/usr/bin/env bash
# Makes sure the services the test suite talks to are there, installing or starting them when
# they are not (the suite itself starts Kafka, the embedded MQTT broker and, without a machine
# PostgreSQL, an embedded one):
#   - Mosquitto on 127.0.0.1:1883 (MachineServicesIT and the Mosquitto ITs),
#   - PostgreSQL on 127.0.0.1:5432 with database "test", trust auth (the stock-server ITs).
# Idempotent: does nothing when both already answer.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  echo "ensure-test-services: installing $* from Debian packages" >&2
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if ! port_open 1883; then
  command -v mosquitto >/dev/null || [[ -x /usr/sbin/mosquitto ]] || apt_install mosquitto
  echo "ensure-test-services: starting Mosquitto on 127.0.0.1:1883" >&2
  conf=/etc/mosquitto/mosquitto.conf
  [[ -f $conf ]] || { conf=$(mktemp); printf 'listener 1883 127.0.0.1\nallow_anonymous true\n' > "$conf"; }
  as_root /usr/sbin/mosquitto -d -c "$conf"
  for _ in $(seq 50); do port_open 1883 && break; sleep 0.1; done
  port_open 1883 || { echo "ensure-test-services: Mosquitto did not start; see /var/log/mosquitto/" >&2; exit 1; }
fi

if ! port_open 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version=$(ls /etc/postgresql | sort -V | tail -1)
  echo "ensure-test-services: starting PostgreSQL $version on 127.0.0.1:5432" >&2
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 100); do port_open 5432 && break; sleep 0.1; done
  port_open 5432 || { echo "ensure-test-services: PostgreSQL did not start; see /var/log/postgresql/" >&2; exit 1; }
fi

if command -v psql >/dev/null && ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
  if psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    echo "ensure-test-services: creating database 'test'" >&2
    psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE test' >/dev/null
  else
    echo "ensure-test-services: PostgreSQL at 127.0.0.1:5432 does not accept user postgres without a" \
         "password; tests fall back to embedded PostgreSQL except the stock-server IT, which needs" \
         "trust auth for 127.0.0.1 (pg_hba.conf) or FLEETPLANE_TEST_PG_URL with credentials." >&2
  fi
fi
