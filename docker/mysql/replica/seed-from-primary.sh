#!/bin/bash
# Runs once, when the replica's data directory is first made (the image's
# /docker-entrypoint-initdb.d, against its temporary local server): copies
# the app's database from the primary with the primary's GTID position,
# then follows the primary from there by GTID auto-positioning.
#
# Works on MySQL 8.4 (CHANGE REPLICATION SOURCE … SOURCE_AUTO_POSITION=1)
# and on MariaDB (CHANGE MASTER … MASTER_USE_GTID=slave_pos), whichever
# the image runs. Needs MYSQL_REPLICATION_PASSWORD (no default) and the
# primary's root password; PRIMARY_HOST names the primary.
set -euo pipefail

fail() {
    echo "replica seeding: $*" >&2
    exit 1
}
[ -n "${MYSQL_REPLICATION_PASSWORD:-}" ] ||
    fail "MYSQL_REPLICATION_PASSWORD is not set: set it in .env (openssl rand -hex 24)"
case "$MYSQL_REPLICATION_PASSWORD" in
    *"'"* | *"\\"*) fail "MYSQL_REPLICATION_PASSWORD must not hold quotes or backslashes" ;;
esac
primary=${PRIMARY_HOST:-mysql}
client=$(command -v mysql || command -v mariadb)
dump=$(command -v mysqldump || command -v mariadb-dump)

on_primary() {
    MYSQL_PWD=$MYSQL_ROOT_PASSWORD "$client" -h "$primary" -uroot -N "$@"
}
local_sql() {
    MYSQL_PWD=$MYSQL_ROOT_PASSWORD "$client" --protocol=socket -uroot -N "$@"
}

version=$(on_primary -e 'SELECT VERSION()')
echo "replica seeding: the primary ($primary) runs $version"

# The account the replica replicates as: made on the primary alone, out of
# its binary log.
on_primary -e "SET SESSION sql_log_bin = 0;
    CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY '$MYSQL_REPLICATION_PASSWORD';
    ALTER USER 'repl'@'%' IDENTIFIED BY '$MYSQL_REPLICATION_PASSWORD';
    GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';"

# A consistent copy of the app's database and the position it was taken
# at; retried, since the app may be migrating the primary meanwhile.
copy=/tmp/primary-copy.sql
for attempt in 1 2 3 4 5; do
    if [[ $version == *MariaDB* ]]; then
        options=(--gtid --master-data=2)
    else
        options=(--set-gtid-purged=ON)
    fi
    if MYSQL_PWD=$MYSQL_ROOT_PASSWORD "$dump" -h "$primary" -uroot --single-transaction \
        --routines --triggers "${options[@]}" --databases "$MYSQL_DATABASE" >"$copy"; then
        break
    fi
    [ "$attempt" -lt 5 ] || fail "could not copy $MYSQL_DATABASE from the primary"
    sleep 3
done

if [[ $version == *MariaDB* ]]; then
    position=$(sed -n "s/^-- SET GLOBAL gtid_slave_pos='\([^']*\)'.*/\1/p" "$copy" | head -n1)
    [ -n "$position" ] || fail "the copy does not say its GTID position"
    local_sql <"$copy"
    local_sql -e "SET GLOBAL gtid_slave_pos = '$position';
        CHANGE MASTER TO MASTER_HOST='$primary', MASTER_PORT=3306, MASTER_USER='repl',
          MASTER_PASSWORD='$MYSQL_REPLICATION_PASSWORD', MASTER_USE_GTID=slave_pos,
          MASTER_CONNECT_RETRY=5;
        START SLAVE;
        GRANT SLAVE MONITOR ON *.* TO '$MYSQL_USER'@'%';"
else
    # The copy sets GTID_PURGED, which needs no GTIDs of this server's own.
    local_sql -e "RESET BINARY LOGS AND GTIDS;"
    local_sql <"$copy"
    local_sql -e "CHANGE REPLICATION SOURCE TO SOURCE_HOST='$primary', SOURCE_PORT=3306,
          SOURCE_USER='repl', SOURCE_PASSWORD='$MYSQL_REPLICATION_PASSWORD',
          SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1, SOURCE_CONNECT_RETRY=5;
        START REPLICA;
        SET SESSION sql_log_bin = 0;
        GRANT REPLICATION CLIENT ON *.* TO '$MYSQL_USER'@'%';
        SET PERSIST super_read_only = ON;"
fi
rm -f "$copy"
echo "replica seeding: following $primary from the copy's position"
