#!/usr/bin/env bash
# A replicating MariaDB primary and replica on this machine, from Debian's
# MariaDB packages (mariadb-server): no container. The primary keeps a
# binary log (so GTIDs); the replica follows it by GTID
# (MASTER_USE_GTID=slave_pos) and is read-only.
#
#   scripts/replica-pair.sh start DIR   start both, data and sockets in DIR;
#                                        prints PRIMARY_URL=… and REPLICA_URL=…
#                                        (mysql:// URLs without a database)
#   scripts/replica-pair.sh stop DIR    stop both, wait for them, remove DIR
#
# Ports are free ones picked at start. For the contract checks, the
# benchmark and trying DATABASE_REPLICA_URLS by hand; the Rust tests start
# their own pair (tests/support/replication.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}
[ $# -eq 2 ] || usage
action=$1
dir=$2

mariadbd=/usr/sbin/mariadbd
client=$(command -v mariadb || command -v mysql || true)

start() {
    for tool in mariadb-install-db "$mariadbd" "$client"; do
        command -v "$tool" >/dev/null 2>&1 || {
            echo "error: $tool is missing (Debian: apt-get install mariadb-server)" >&2
            exit 1
        }
    done
    mkdir -p "$dir"
    local name port extra
    for name in primary replica; do
        mkdir -p "$dir/$name/tmp"
        mariadb-install-db --no-defaults --datadir="$dir/$name/data" --tmpdir="$dir/$name/tmp" \
            --user=root --auth-root-authentication-method=normal --skip-test-db >/dev/null 2>&1
        port=$(free_port)
        echo "$port" > "$dir/$name/port"
        if [ "$name" = primary ]; then
            extra=(--server-id=1 --log-bin=primary-bin --binlog-format=ROW)
        else
            extra=(--server-id=2 --read-only --relay-log=replica-relay)
        fi
        "$mariadbd" --no-defaults --datadir="$dir/$name/data" --tmpdir="$dir/$name/tmp" \
            --socket="$dir/$name/mariadb.sock" --pid-file="$dir/$name/mariadb.pid" \
            --port="$port" --bind-address=127.0.0.1 --user=root \
            --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
            --innodb-buffer-pool-size=128M "${extra[@]}" >"$dir/$name/server.log" 2>&1 &
        echo $! > "$dir/$name/server.pid"
    done
    local primary_port replica_port
    primary_port=$(cat "$dir/primary/port")
    replica_port=$(cat "$dir/replica/port")
    for port in "$primary_port" "$replica_port"; do
        for _ in $(seq 1 150); do
            "$client" -uroot -h127.0.0.1 -P"$port" -e 'SELECT 1' >/dev/null 2>&1 && break
            sleep 0.2
        done
        "$client" -uroot -h127.0.0.1 -P"$port" -e 'SELECT 1' >/dev/null
    done
    # mariadb-install-db's anonymous users would shadow repl@'%' for
    # connections from localhost.
    "$client" -uroot -h127.0.0.1 -P"$primary_port" -e "
        DELETE FROM mysql.global_priv WHERE User=''; FLUSH PRIVILEGES;
        CREATE USER repl@'%' IDENTIFIED BY 'repl-pass';
        GRANT REPLICATION SLAVE ON *.* TO repl@'%';"
    "$client" -uroot -h127.0.0.1 -P"$replica_port" -e "
        CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$primary_port,
          MASTER_USER='repl', MASTER_PASSWORD='repl-pass', MASTER_USE_GTID=slave_pos,
          MASTER_CONNECT_RETRY=1;
        START SLAVE;"
    echo "PRIMARY_URL=mysql://root@127.0.0.1:$primary_port"
    echo "REPLICA_URL=mysql://root@127.0.0.1:$replica_port"
}

stop() {
    local name pid
    for name in primary replica; do
        pid=$(cat "$dir/$name/server.pid" 2>/dev/null || true)
        if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    done
    for name in primary replica; do
        pid=$(cat "$dir/$name/server.pid" 2>/dev/null || true)
        [ -n "$pid" ] || continue
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
}

case "$action" in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
