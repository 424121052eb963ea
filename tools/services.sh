#!/usr/bin/env bash
# Makes sure the external stores Ballast's integration tests use are up on this machine:
# PostgreSQL (5432), Redis (6379) and NATS with JetStream (4222). Starts any that is down with
# the machine's own service commands, then waits (up to 30 s each) until it answers.
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

status=0
if ! up 5432; then
  echo "services: starting PostgreSQL" >&2
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  wait_for PostgreSQL 5432 || status=1
fi
if ! up 6379; then
  echo "services: starting Redis" >&2
  if command -v redis-server >/dev/null; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  wait_for Redis 6379 || status=1
fi
if ! up 4222; then
  echo "services: starting NATS (JetStream)" >&2
  if [[ -x /usr/sbin/nats-server ]]; then
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
  fi
  wait_for NATS 4222 || status=1
fi
exit $status
