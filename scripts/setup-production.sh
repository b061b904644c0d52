#!/usr/bin/env bash
# Installs what the production topology (deploy/, `make prod-up`) needs that is missing,
# and nothing that is there. Slow tools are cached outside the repo, keyed by version:
#
#   $RETURNS_CACHE/temporal-server-<v>/
#     temporal-server, temporal-sql-tool     built with `go install` (module go.temporal.io/server)
#     schema/postgresql/v12/, config/         copied from that module: the SQL schemas and the
#                                             config template the launcher renders
#   $RETURNS_CACHE/temporal-ui-server-<v>/temporal-ui-server   the Web UI server (go install)
#   PostgreSQL 15                             Debian's `postgresql` package (apt), when missing
#   Redis 7                                   Debian's `redis-server` package (apt), when missing: the
#                                             portal's lookup limits, counted once for every API process
#   .tools.production.env                     where those are, sourced by the Makefile and read by
#                                             deploy/ and tests/deploy
#
# Exits 0 even when a tool can't be had (no Go, no apt): it is then left out of the env file
# and the production tests skip saying which tool is missing.
set -euo pipefail

TEMPORAL_SERVER_VERSION=1.29.1   # the server the dev CLI (scripts/setup.sh) bundles
TEMPORAL_UI_SERVER_VERSION=2.42.1 # the Web UI the dev CLI embeds
POSTGRES_MAJOR=15                 # Debian 12's
REDIS_MAJOR=7                     # Debian 12's (docker-compose.yml's image is the same major)

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${RETURNS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/returns-on-temporal}
mkdir -p "$cache"
tools_env="$root/.tools.production.env"
: >"$tools_env.tmp"

log() { printf '[setup-production] %s\n' "$*" >&2; }

go_install() {  # <dir> <module@version>... ; builds into <dir>, atomically
  local dir=$1
  shift
  if ! command -v go >/dev/null 2>&1; then
    log "no Go: cannot build $*"
    return 1
  fi
  log "building $* into $dir (first time only, a few minutes)"
  rm -rf "$dir.partial" && mkdir -p "$dir.partial"
  GOBIN="$dir.partial" GOFLAGS=-buildvcs=false go install "$@"
}

# --- Temporal server and its SQL tool (one module, one build) -------------------------
dir="$cache/temporal-server-$TEMPORAL_SERVER_VERSION"
if [ ! -x "$dir/temporal-server" ] || [ ! -x "$dir/temporal-sql-tool" ] || [ ! -d "$dir/schema" ]; then
  module=go.temporal.io/server
  if go_install "$dir" "$module/cmd/server@v$TEMPORAL_SERVER_VERSION" \
      "$module/cmd/tools/sql@v$TEMPORAL_SERVER_VERSION"; then
    # Both binaries are named after their folder; give them the names Temporal's images use.
    mv "$dir.partial/server" "$dir.partial/temporal-server"
    mv "$dir.partial/sql" "$dir.partial/temporal-sql-tool"
    # The schemas and config template live in the module; keep this version's copy beside
    # its binaries, so the launcher doesn't depend on the Go module cache staying around.
    source_dir="$(go env GOMODCACHE)/$module@v$TEMPORAL_SERVER_VERSION"
    mkdir -p "$dir.partial/schema/postgresql" "$dir.partial/config"
    cp -R "$source_dir/schema/postgresql/v12" "$dir.partial/schema/postgresql/"
    cp "$source_dir/config/development-postgres12.yaml" "$dir.partial/config/"
    cp -R "$source_dir/config/dynamicconfig" "$dir.partial/config/"
    chmod -R u+w "$dir.partial"  # the module cache is read-only
    rm -rf "$dir" && mv "$dir.partial" "$dir"
  fi
fi
if [ -x "$dir/temporal-server" ]; then
  {
    echo "export TEMPORAL_SERVER_PATH=$dir/temporal-server"
    echo "export TEMPORAL_SQL_TOOL_PATH=$dir/temporal-sql-tool"
    echo "export TEMPORAL_SERVER_FILES=$dir"
  } >>"$tools_env.tmp"
fi

# --- Web UI server ---------------------------------------------------------------------
dir="$cache/temporal-ui-server-$TEMPORAL_UI_SERVER_VERSION"
if [ ! -x "$dir/temporal-ui-server" ] && \
    go_install "$dir" "github.com/temporalio/ui-server/v2/cmd/server@v$TEMPORAL_UI_SERVER_VERSION"; then
  mv "$dir.partial/server" "$dir.partial/temporal-ui-server"
  rm -rf "$dir" && mv "$dir.partial" "$dir"
fi
if [ -x "$dir/temporal-ui-server" ]; then
  echo "export TEMPORAL_UI_SERVER_PATH=$dir/temporal-ui-server" >>"$tools_env.tmp"
fi

# --- PostgreSQL ------------------------------------------------------------------------
pg_bin="/usr/lib/postgresql/$POSTGRES_MAJOR/bin"
if [ ! -x "$pg_bin/initdb" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's postgresql (first time only)"
    export DEBIAN_FRONTEND=noninteractive
    # Another apt run (a colleague's setup) may hold the lock: wait for it rather than fail.
    apt_wait=(-o DPkg::Lock::Timeout=600)
    apt-get "${apt_wait[@]}" install -y -q postgresql >/dev/null 2>&1 ||
      { apt-get "${apt_wait[@]}" update -q >/dev/null && apt-get "${apt_wait[@]}" install -y -q postgresql >/dev/null; } ||
      log "apt could not install postgresql"
    # Debian's package starts a cluster of its own on 5432; the topology runs its own instead.
    if command -v pg_ctlcluster >/dev/null 2>&1; then
      pg_ctlcluster "$POSTGRES_MAJOR" main stop >/dev/null 2>&1 || true
    fi
  else
    log "PostgreSQL $POSTGRES_MAJOR is missing and apt-get can't be run here (needs root)"
  fi
fi
if [ -x "$pg_bin/initdb" ]; then
  echo "export POSTGRES_BIN_DIR=$pg_bin" >>"$tools_env.tmp"
fi

# --- Redis -----------------------------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's redis-server (first time only)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 install -y -q redis-server >/dev/null 2>&1 ||
      { apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null &&
        apt-get -o DPkg::Lock::Timeout=600 install -y -q redis-server >/dev/null; } ||
      log "apt could not install redis-server"
    # Where an init system started the package's own server on 6379: the topology runs its own.
    if command -v service >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; fi
  else
    log "redis-server is missing and apt-get can't be run here (needs root)"
  fi
fi
if command -v redis-server >/dev/null 2>&1; then
  echo "export REDIS_SERVER_PATH=$(command -v redis-server)" >>"$tools_env.tmp"
fi

mv "$tools_env.tmp" "$tools_env"
log "ready ($(tr '\n' ' ' <"$tools_env"))"
