#!/usr/bin/env bash
# Renders the project's nginx config (docker/nginx) into a folder for a
# local nginx, as the nginx image's entrypoint renders it with envsubst,
# inside a minimal nginx.conf that keeps every file under that folder:
#
#   scripts/nginx-local.sh DIR UPSTREAM LISTEN
#   nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'
#
# UPSTREAM is the app (127.0.0.1:8080), LISTEN where nginx listens
# (127.0.0.1:8081). The proxy tests (tests/proxy) and the contract checks
# (scripts/contract.sh) both run nginx this way.
set -euo pipefail

if [ "$#" -ne 3 ]; then
    echo "usage: $0 DIR UPSTREAM LISTEN" >&2
    exit 2
fi
dir=$1 upstream=$2 listen=$3
nginx_dir="$(cd "$(dirname "$0")/.." && pwd)/docker/nginx"

mkdir -p "$dir/conf.d" "$dir/snippets" "$dir/tmp" "$dir/cache"
cp "$nginx_dir"/snippets/*.conf "$dir/snippets/"
# Only the variables the Compose file sets are replaced; nginx's own
# $variables stay, as the image's envsubst leaves unset names alone.
sed -e "s|\${CATALOG_UPSTREAM}|$upstream|g" -e "s|\${NGINX_PORT}|$listen|g" \
    -e "s|\${NGINX_CACHE_PATH}|$dir/cache|g" -e "s|\${NGINX_ACCESS_LOG}|$dir/access.log|g" \
    "$nginx_dir/templates/default.conf.template" >"$dir/conf.d/default.conf"
cat >"$dir/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 256; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include conf.d/*.conf;
}
NGINX
