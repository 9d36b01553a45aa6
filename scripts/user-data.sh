#!/usr/bin/env bash
# Provisions a fresh Ubuntu VM (EC2 user data) to run catalog with Docker
# Compose, and keeps it running across reboots.
#
# It is a Terraform templatefile: Terraform fills in the template values
# in the block below (pass "" to leave one out). Run by hand, those same
# names are read from the environment instead. The script's own variables
# are always written $NAME, without braces, so Terraform leaves them alone.
#
# Each secret comes from, in order: its template value, the AWS SSM
# Parameter Store under the ssm_parameter_path value (SecureString
# parameters named like the variables, e.g. <path>/JWT_SECRET_KEY), or a fresh random
# value. Secrets never reach the log. A second run changes nothing: an
# existing .env is kept as it is.
set -eo pipefail

# shellcheck disable=SC2154 # Terraform's template values, or the environment's.
{
    REPO_URL="${repo_url}"
    GIT_REF="${git_ref}"
    APP_DIR="${app_dir}"
    SSM_PATH="${ssm_parameter_path}"
    AWS_REGION_VALUE="${aws_region}"
    T_MYSQL_DATABASE="${db_name}"
    T_MYSQL_USER="${db_user}"
    T_MYSQL_PASSWORD="${db_password}"
    T_MYSQL_ROOT_PASSWORD="${db_root_password}"
    T_JWT_SECRET_KEY="${jwt_secret_key}"
    T_ADMIN_PASSWORD="${admin_password}"
}
set -u

# Everything the script touches lives under ROOT ("" on a real machine);
# tests point it at a scratch folder.
ROOT=$(printenv CATALOG_ROOT || true)
APP_PATH=$([ -n "$APP_DIR" ] && echo "$APP_DIR" || echo /opt/catalog)
APP_DIR=$ROOT$APP_PATH
GIT_REF=$([ -n "$GIT_REF" ] && echo "$GIT_REF" || echo main)
LOG_FILE=$ROOT/var/log/catalog-user-data.log
UNIT_FILE=$ROOT/etc/systemd/system/catalog.service
READY_URL=http://127.0.0.1/readyz

mkdir -p "$(dirname "$LOG_FILE")"
exec > >(tee -a "$LOG_FILE") 2>&1
echo "== catalog user-data: $(date -u +%Y-%m-%dT%H:%M:%SZ)"

if [ -z "$REPO_URL" ]; then
    echo "error: repo_url is empty: pass the repository to clone" >&2
    exit 1
fi

# --- Packages: Docker Engine, the Compose plugin and git, from Ubuntu's
# own archive (no release binaries fetched with curl).
packages="docker.io docker-compose-v2 git openssl curl"
if [ -n "$SSM_PATH" ]; then
    packages="$packages awscli"
fi
missing=""
for package in $packages; do
    dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
    echo "-- installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -y
    # shellcheck disable=SC2086 # a list of package names
    apt-get install -y --no-install-recommends $missing
else
    echo "-- packages already installed"
fi
systemctl enable --now docker

# --- The code, at the requested ref.
if [ -d "$APP_DIR/.git" ]; then
    echo "-- updating $APP_DIR to $GIT_REF"
    git -C "$APP_DIR" fetch --depth 1 origin "$GIT_REF"
    git -C "$APP_DIR" checkout --force --detach FETCH_HEAD
else
    echo "-- cloning $REPO_URL at $GIT_REF into $APP_DIR"
    mkdir -p "$(dirname "$APP_DIR")"
    git clone --depth 1 --branch "$GIT_REF" "$REPO_URL" "$APP_DIR"
fi

# --- .env, mode 0600.
if [ -n "$AWS_REGION_VALUE" ]; then
    export AWS_DEFAULT_REGION=$AWS_REGION_VALUE
fi

from_ssm() {
    [ -n "$SSM_PATH" ] || return 1
    aws ssm get-parameter --with-decryption \
        --name "$SSM_PATH/$1" --query Parameter.Value --output text 2>/dev/null
}

# Prints the value for $1: the template's ($2), SSM's, or a random one
# (hex, so it is safe inside a URL). Says where it came from on stderr,
# never what it is.
secret() {
    local name=$1 given=$2 value
    if [ -n "$given" ]; then
        echo "   $name: from the template" >&2
        printf '%s' "$given"
    elif value=$(from_ssm "$name") && [ -n "$value" ] && [ "$value" != "None" ]; then
        echo "   $name: from SSM" >&2
        printf '%s' "$value"
    else
        echo "   $name: generated" >&2
        openssl rand -hex 32
    fi
}

ENV_FILE=$APP_DIR/.env
if [ -f "$ENV_FILE" ]; then
    echo "-- keeping the existing $ENV_FILE"
else
    echo "-- writing $ENV_FILE"
    db_name=$([ -n "$T_MYSQL_DATABASE" ] && echo "$T_MYSQL_DATABASE" || echo catalog)
    db_user=$([ -n "$T_MYSQL_USER" ] && echo "$T_MYSQL_USER" || echo catalog)
    db_password=$(secret MYSQL_PASSWORD "$T_MYSQL_PASSWORD")
    db_root_password=$(secret MYSQL_ROOT_PASSWORD "$T_MYSQL_ROOT_PASSWORD")
    jwt_secret=$(secret JWT_SECRET_KEY "$T_JWT_SECRET_KEY")
    admin_password=$(secret ADMIN_PASSWORD "$T_ADMIN_PASSWORD")
    (
        umask 077
        cat > "$ENV_FILE.tmp" <<ENV
# Written by user-data on $(date -u +%Y-%m-%d). See .env.example.
MYSQL_DATABASE=$db_name
MYSQL_USER=$db_user
MYSQL_PASSWORD=$db_password
MYSQL_ROOT_PASSWORD=$db_root_password
JWT_SECRET_KEY=$jwt_secret
ADMIN_USERNAME=admin
ADMIN_PASSWORD=$admin_password
ENV
        chmod 600 "$ENV_FILE.tmp"
        mv "$ENV_FILE.tmp" "$ENV_FILE"
    )
fi

# --- A systemd unit, so the stack comes back after a reboot.
unit="[Unit]
Description=catalog (Docker Compose stack)
Requires=docker.service
After=docker.service network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
WorkingDirectory=$APP_PATH
ExecStart=/usr/bin/docker compose up -d --build --remove-orphans
ExecStop=/usr/bin/docker compose down
TimeoutStartSec=1800

[Install]
WantedBy=multi-user.target"
mkdir -p "$(dirname "$UNIT_FILE")"
if [ -f "$UNIT_FILE" ] && [ "$(cat "$UNIT_FILE")" = "$unit" ]; then
    echo "-- systemd unit unchanged"
else
    echo "-- installing $UNIT_FILE"
    printf '%s\n' "$unit" > "$UNIT_FILE"
    systemctl daemon-reload
fi
systemctl enable catalog.service
systemctl start catalog.service

# --- Wait for the service through nginx, then say where it is.
echo "-- waiting for $READY_URL"
for _ in $(seq 1 180); do
    if curl -fsS -o /dev/null --max-time 5 "$READY_URL"; then
        break
    fi
    sleep 5
done
if ! curl -fsS -o /dev/null --max-time 5 "$READY_URL"; then
    echo "error: catalog did not become ready; see: docker compose -f $APP_DIR/docker-compose.yml logs" >&2
    exit 1
fi

# The public address from the instance metadata (IMDSv2), if there is one.
host=127.0.0.1
if token=$(curl -fsS -X PUT --max-time 2 -H "X-aws-ec2-metadata-token-ttl-seconds: 60" \
    http://169.254.169.254/latest/api/token 2>/dev/null) &&
    ip=$(curl -fsS --max-time 2 -H "X-aws-ec2-metadata-token: $token" \
        http://169.254.169.254/latest/meta-data/public-ipv4 2>/dev/null) && [ -n "$ip" ]; then
    host=$ip
fi
echo "== catalog is ready: http://$host/api/docs"
