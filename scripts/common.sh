# shellcheck shell=bash
# Helpers the check scripts share (sourced, not run): SQL on the test
# database server ($DB_SERVER, a mysql:// URL), a free loopback port, and
# waiting for a URL to answer.

sql() {
    python3 - "$DB_SERVER" "$1" <<'PY'
import os, subprocess, sys
from urllib.parse import unquote, urlparse
url, statement = urlparse(sys.argv[1]), sys.argv[2]
client = next(c for c in ("mariadb", "mysql") if subprocess.call(["sh", "-c", f"command -v {c}"], stdout=subprocess.DEVNULL) == 0)
env = dict(os.environ, MYSQL_PWD=unquote(url.password or ""))
sys.exit(subprocess.call([client, "-h", url.hostname or "127.0.0.1", "-P", str(url.port or 3306),
                          "-u", unquote(url.username or "root"), "-e", statement], env=env))
PY
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {
    for _ in $(seq 1 100); do
        if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "error: $1 did not answer" >&2
    return 1
}
