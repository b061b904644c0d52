#!/usr/bin/env bash
# Installs everything the project needs that is missing, and nothing that is there.
#
#   .venv/                 Python environment with the project and its dev extras
#   $RETURNS_CACHE/...     slow-to-build tools, outside the repo, keyed by version:
#     temporal-cli-<v>/temporal            Temporal CLI dev server (go install)
#     stripe-mock-<v>/stripe-mock          official Stripe API mock (go install)
#     temporal-test-server-<v>/test-server time-skipping test server (Maven) + wrapper
#     axe-core-<v>/axe.min.js              accessibility engine the portal's browser tests run (npm)
#   /usr/bin/chromium      Debian's browser, driven by the `playwright` wheel (apt, as root)
#   .tools.env             where those tools are, sourced by the Makefile
#
# Without Go or Java the tool is left out of .tools.env and the Temporal SDK downloads
# its own build at first use (needs internet); stripe-mock is then skipped by its tests.
set -euo pipefail

TEMPORAL_CLI_VERSION=1.5.1          # newest tag `go install` accepts (see README)
STRIPE_MOCK_VERSION=0.203.0
TEMPORAL_TEST_SERVER_VERSION=1.31.0
AXE_CORE_VERSION=4.14.1

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${RETURNS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/returns-on-temporal}
python=${PYTHON:-python3}
mkdir -p "$cache"
tools_env="$root/.tools.env"
: >"$tools_env.tmp"

log() { printf '[setup] %s\n' "$*" >&2; }

# --- Python environment -------------------------------------------------------------
stamp="$root/.venv/.installed"
if [ ! -x "$root/.venv/bin/python" ]; then
  log "creating .venv"
  "$python" -m venv "$root/.venv"
fi
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
  log "installing the project and its dev dependencies"
  "$root/.venv/bin/python" -m pip install --quiet --upgrade pip
  "$root/.venv/bin/python" -m pip install --quiet -e "$root[dev]"
  touch "$stamp"
fi

# --- Go tools -----------------------------------------------------------------------
go_install() {  # <module@version> <dir> [go flags...] ; builds into <dir>
  local module=$1 dir=$2
  shift 2
  if ! command -v go >/dev/null 2>&1; then return 1; fi
  log "building $module into $dir (first time only, a few minutes)"
  rm -rf "$dir.partial" && mkdir -p "$dir.partial"
  GOBIN="$dir.partial" GOFLAGS=-buildvcs=false go install "$@" "$module"
  rm -rf "$dir" && mv "$dir.partial" "$dir"
}

version_at_least() {  # <have> <want>
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

temporal_bin=""
path_version=$( (temporal --version 2>/dev/null || true) | sed -n 's/^temporal version \([0-9][0-9.]*\).*/\1/p')
if [ -n "$path_version" ] && version_at_least "$path_version" "$TEMPORAL_CLI_VERSION"; then
  temporal_bin=$(command -v temporal)
else
  dir="$cache/temporal-cli-$TEMPORAL_CLI_VERSION"
  [ -x "$dir/temporal" ] || go_install "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION" "$dir" \
    -ldflags "-X github.com/temporalio/cli/temporalcli.Version=$TEMPORAL_CLI_VERSION" || true
  [ -x "$dir/temporal" ] && temporal_bin="$dir/temporal"
fi
if [ -n "$temporal_bin" ]; then
  echo "export TEMPORAL_CLI_PATH=$temporal_bin" >>"$tools_env.tmp"
else
  log "no Go: the Temporal SDK will download the dev server at first use"
fi

dir="$cache/stripe-mock-$STRIPE_MOCK_VERSION"
[ -x "$dir/stripe-mock" ] || go_install "github.com/stripe/stripe-mock@v$STRIPE_MOCK_VERSION" "$dir" || true
if [ -x "$dir/stripe-mock" ]; then
  echo "export STRIPE_MOCK_PATH=$dir/stripe-mock" >>"$tools_env.tmp"
else
  log "no Go: stripe-mock contract tests will be skipped"
fi

# --- Time-skipping test server (Java) -----------------------------------------------
dir="$cache/temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION"
if [ ! -x "$dir/test-server" ] && command -v mvn >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
  log "fetching io.temporal:temporal-test-server:$TEMPORAL_TEST_SERVER_VERSION (first time only)"
  rm -rf "$dir.partial" && mkdir -p "$dir.partial/lib"
  mvn --batch-mode --quiet -Dstyle.color=never -f "$root/tools/temporal-test-server/pom.xml" \
      -Dtemporal.version="$TEMPORAL_TEST_SERVER_VERSION" \
      dependency:copy-dependencies -DoutputDirectory="$dir.partial/lib" -DincludeScope=runtime
  # sdk-core runs `<exe> <port> [--enable-time-skipping]`.
  cat >"$dir.partial/test-server" <<EOF
#!/usr/bin/env sh
exec java -Xss8m -cp '$dir/lib/*' io.temporal.testserver.TestServer "\$@"
EOF
  chmod +x "$dir.partial/test-server"
  rm -rf "$dir" && mv "$dir.partial" "$dir"
fi
if [ -x "$dir/test-server" ]; then
  echo "export TEMPORAL_TEST_SERVER_PATH=$dir/test-server" >>"$tools_env.tmp"
else
  log "no Java/Maven: the Temporal SDK will download the test server at first use"
fi

# --- Debian packages (as root with apt) ----------------------------------------------
apt_install() {  # <what> <package...>: as root with apt, waiting out another holder of apt's lock
  local what=$1
  shift
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then return 1; fi
  log "installing $what (apt, first time only)"
  for attempt in 1 2 3 4 5 6; do
    if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") >/dev/null 2>&1; then
      return 0
    fi
    sleep 20
  done
  return 1
}

# --- PostgreSQL server (the event store's tests start a throwaway cluster) -------------
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  apt_install PostgreSQL postgresql || true
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || log "no PostgreSQL: the store's PostgreSQL tests will be skipped"
fi

# --- Browser tests: Debian's chromium (driven by the playwright wheel) and axe-core --------
# Playwright's own browser download cannot run here: the tests launch the system's chromium.
chromium_bin=$(command -v chromium || true)
if [ -z "$chromium_bin" ]; then
  apt_install chromium chromium fonts-dejavu-core || true
  chromium_bin=$(command -v chromium || true)
fi
if [ -n "$chromium_bin" ]; then
  echo "export CHROMIUM_PATH=$chromium_bin" >>"$tools_env.tmp"
else
  log "no chromium: the portal's browser tests will be skipped"
fi

dir="$cache/axe-core-$AXE_CORE_VERSION"
if [ ! -f "$dir/axe.min.js" ] && command -v npm >/dev/null 2>&1; then
  log "fetching axe-core $AXE_CORE_VERSION (npm, first time only)"
  rm -rf "$dir.partial" && mkdir -p "$dir.partial"
  (cd "$dir.partial" && npm pack --silent "axe-core@$AXE_CORE_VERSION" >/dev/null &&
    tar -xzf "axe-core-$AXE_CORE_VERSION.tgz" package/axe.min.js package/LICENSE &&
    mv package/axe.min.js package/LICENSE . && rm -rf package "axe-core-$AXE_CORE_VERSION.tgz") &&
    rm -rf "$dir" && mv "$dir.partial" "$dir" || log "axe-core could not be fetched"
fi
if [ -f "$dir/axe.min.js" ]; then
  echo "export AXE_CORE_PATH=$dir/axe.min.js" >>"$tools_env.tmp"
else
  log "no axe-core (needs npm): the portal's accessibility checks will be skipped"
fi

mv "$tools_env.tmp" "$tools_env"
log "ready ($(tr '\n' ' ' <"$tools_env"))"
