#!/usr/bin/env bash
# Runs the service from source against a local MySQL/MariaDB.
#
# On first use it writes .env (mode 0600) with DATABASE_URL pointing at
# mysql://root@127.0.0.1:3306/catalog and a freshly generated
# JWT_SECRET_KEY, and creates that database when a mysql client is
# installed. Edit .env to point elsewhere; later runs use it as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f .env ]; then
    if command -v openssl >/dev/null 2>&1; then
        secret=$(openssl rand -base64 48 | tr -d '\n')
    else
        secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
    fi
    (
        umask 077
        {
            echo "# Written by scripts/dev.sh for local development; see .env.example."
            echo "DATABASE_URL=mysql://root@127.0.0.1:3306/catalog"
            echo "JWT_SECRET_KEY=$secret"
            echo "LISTEN_ADDR=127.0.0.1:8080"
        } > .env
    )
    echo "==> wrote .env with a new JWT secret (edit it to use another database)"
fi

client=$(command -v mariadb || command -v mysql || true)
url=$(grep -E '^DATABASE_URL=' .env | tail -n 1 | cut -d= -f2-)
if [ -n "$client" ] && [ "$url" = "mysql://root@127.0.0.1:3306/catalog" ]; then
    "$client" -h 127.0.0.1 -P 3306 -u root \
        -e "CREATE DATABASE IF NOT EXISTS catalog CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" ||
        echo "warning: could not create the catalog database; create it yourself" >&2
fi

echo "==> Swagger UI: http://127.0.0.1:8080/api/docs (unless LISTEN_ADDR says otherwise)"
exec cargo run --release --bin catalog -- serve
