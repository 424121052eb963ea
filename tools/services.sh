#!/usr/bin/env bash
# The external stores Ballast's integration tests use on this machine: PostgreSQL (5432),
# Redis (6379) and NATS with JetStream (4222), with the machine's own service commands.
#
#   tools/services.sh                 start any that is down, wait (up to 30 s each) until it answers
#   tools/services.sh stop NAME       stop one (postgres|redis|nats) and wait until its port is closed
#   tools/services.sh start NAME      start one and wait until it answers
#
# The outage tests stop a store for a few seconds and start it again with these commands.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name port
  for _ in $(seq 1 60); do
    up "$2" && return 0
    sleep 0.5
  done
  echo "services: $1 did not come up on 127.0.0.1:$2" >&2
  return 1
}

wait_down() { # name port
  for _ in $(seq 1 60); do
    up "$2" || return 0
    sleep 0.5
  done
  echo "services: $1 still answers on 127.0.0.1:$2" >&2
  return 1
}

pg_version() { ls /etc/postgresql | head -n1; }

start_one() {
  case "$1" in
    postgres)
      up 5432 && return 0
      echo "services: starting PostgreSQL" >&2
      if command -v pg_ctlcluster >/dev/null; then
        pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main start || true
      fi
      wait_for PostgreSQL 5432
      ;;
    redis)
      up 6379 && return 0
      echo "services: starting Redis" >&2
      if command -v redis-server >/dev/null; then
        mkdir -p /var/lib/redis /var/log/redis
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
          --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
      fi
      wait_for Redis 6379
      ;;
    nats)
      up 4222 && return 0
      echo "services: starting NATS (JetStream)" >&2
      if [[ -x /usr/sbin/nats-server ]]; then
        mkdir -p /var/lib/nats-server
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
          -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
      fi
      wait_for NATS 4222
      ;;
    *) echo "services: unknown service $1 (postgres|redis|nats)" >&2; return 2 ;;
  esac
}

stop_one() {
  case "$1" in
    postgres) pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main stop -m fast || true; wait_down PostgreSQL 5432 ;;
    redis) redis-cli -p 6379 shutdown nosave >/dev/null 2>&1 || true; wait_down Redis 6379 ;;
    nats) start-stop-daemon --stop --oknodo --retry 10 --exec /usr/sbin/nats-server >/dev/null || true; wait_down NATS 4222 ;;
    *) echo "services: unknown service $1 (postgres|redis|nats)" >&2; return 2 ;;
  esac
}

case "${1:-}" in
  stop) stop_one "${2:?which service}" ;;
  start) start_one "${2:?which service}" ;;
  "")
    status=0
    for s in postgres redis nats; do start_one "$s" || status=1; done
    exit $status
    ;;
  *) echo "usage: tools/services.sh [start|stop NAME]" >&2; exit 2 ;;
esac
