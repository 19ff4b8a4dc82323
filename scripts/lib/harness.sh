# shellcheck shell=bash
# harness.sh: what bench.sh, load.sh and soak.sh share, sourced by each: logging, cleanup of the
# processes they start, Debian installs, the release build, the mock upstream and the gateway on
# 127.0.0.1 (the only address these scripts may target), and /proc readings.
#
# The sourcing script sets HARNESS_NAME (its log prefix) first and runs with `set -euo pipefail`.
# Knobs (environment): CARGO_TARGET_DIR (default $HOME/.cache/llm-gateway/target), SKIP_BUILD=1
# (use existing binaries; GATEWAY_BIN / MOCK_BIN may point at them), RUST_LOG (default warn).

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO_ROOT" || exit 1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/llm-gateway/target}
HOST=127.0.0.1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/llm-gateway-${HARNESS_NAME:-script}.XXXXXX")
PIDS=()

log() { printf '[%s] %s\n' "${HARNESS_NAME:-script}" "$*" >&2; }
die() {
  printf '[%s] error: %s\n' "${HARNESS_NAME:-script}" "$*" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

harness_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap harness_cleanup EXIT
trap 'exit 130' INT TERM

APT_UPDATED=0
apt_install() {
  have apt-get && [[ $(id -u) == 0 ]] || return 1
  if [[ $APT_UPDATED == 0 ]]; then
    apt-get update -qq >&2 || return 1
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# Release binaries of the gateway and the mock upstream (built unless SKIP_BUILD=1).
build_release() {
  GATEWAY_BIN=${GATEWAY_BIN:-$CARGO_TARGET_DIR/release/llm-gateway}
  MOCK_BIN=${MOCK_BIN:-$CARGO_TARGET_DIR/release/mock-upstream}
  if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release --bins (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    cargo build --release --bins >&2 || die "release build failed"
  fi
  [[ -x $MOCK_BIN ]] || die "mock-upstream binary not found at $MOCK_BIN"
  [[ -x $GATEWAY_BIN ]] || die "llm-gateway binary not found at $GATEWAY_BIN"
}

# The deterministic mock upstream on a free port: sets MOCK_PID and MOCK_URL.
start_mock() {
  "$MOCK_BIN" --host "$HOST" --port 0 "$@" >"$WORK/mock.out" 2>"$WORK/mock.err" &
  MOCK_PID=$!
  PIDS+=("$MOCK_PID")
  local line="" i
  for ((i = 0; i < 100; i++)); do
    line=$(head -n 1 "$WORK/mock.out" 2>/dev/null || true)
    [[ $line == "listening on "* ]] && break
    kill -0 "$MOCK_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ $line != "listening on "* ]]; then
    cat "$WORK/mock.err" >&2 || true
    die "mock-upstream did not start"
  fi
  MOCK_URL=${line#listening on }
  log "mock-upstream pid $MOCK_PID at $MOCK_URL"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_gateway CONFIG [extra flags...]: the gateway on CONFIG, waited for until /health answers
# 200 (its log is shown if it never does). Sets GATEWAY_PID, GATEWAY_PORT and GATEWAY_URL.
start_gateway() {
  local config=$1
  shift
  GATEWAY_PORT=${GATEWAY_PORT:-$(free_port)}
  GATEWAY_URL="http://$HOST:$GATEWAY_PORT"
  RUST_LOG=${RUST_LOG:-warn} "$GATEWAY_BIN" start --config-path "$config" --host "$HOST" \
    --port "$GATEWAY_PORT" "$@" >"$WORK/gateway.log" 2>&1 &
  GATEWAY_PID=$!
  PIDS+=("$GATEWAY_PID")
  local i code=000
  for ((i = 0; i < 300; i++)); do
    if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then
      break
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$GATEWAY_URL/health" || true)
    [[ $code == 200 ]] && break
    sleep 0.1
  done
  if [[ $code != 200 ]]; then
    local why="last /health status: $code"
    if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then
      local rc=0
      wait "$GATEWAY_PID" || rc=$?
      why="it exited with status $rc"
    fi
    log "gateway command: $GATEWAY_BIN start --config-path $config --host $HOST --port $GATEWAY_PORT $*"
    log "gateway log:"
    cat "$WORK/gateway.log" >&2 || true
    die "llm-gateway did not become healthy on $GATEWAY_URL ($why)"
  fi
  log "llm-gateway pid $GATEWAY_PID at $GATEWAY_URL"
}

cpu_ticks() { # utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat)
  local rest
  rest=$(<"/proc/$1/stat")
  rest=${rest##*) } # the command name may contain spaces; fields restart after the last ')'
  awk '{ print $12 + $13 }' <<<"$rest"
}

rss_kib() { # $1 pid, $2 VmRSS | VmHWM
  awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

mib() { awk -v k="$1" 'BEGIN { if (k == "") print "-"; else printf "%.1f MiB", k / 1024 }'; }

# raise_nofile WANT NEED: raises this shell's open-file limit (and so its children's) to WANT,
# or as far as the hard limit allows (raising the hard limit too where permitted); dies when
# that is below NEED.
raise_nofile() {
  local want=$1 need=$2 hard
  hard=$(ulimit -Hn)
  if [[ $hard != unlimited && $hard -lt $want ]]; then
    ulimit -Hn "$want" 2>/dev/null || true
    hard=$(ulimit -Hn)
  fi
  if [[ $hard != unlimited && $hard -lt $want ]]; then
    want=$hard
  fi
  ((want >= need)) || die "the open-file hard limit is $hard, below the $need needed"
  ulimit -Sn "$want" || die "could not raise the open-file limit to $want"
  log "open-file limit: $(ulimit -Sn)"
}

# write_doc_block DOC NAME FILE: replaces what lies between `<!-- NAME:begin -->` and
# `<!-- NAME:end -->` in DOC with FILE's text (how the scripts record their results).
write_doc_block() {
  local doc=$1 name=$2 file=$3
  if ! grep -q "<!-- $name:begin -->" "$doc" || ! grep -q "<!-- $name:end -->" "$doc"; then
    die "$doc has no <!-- $name:begin --> / <!-- $name:end --> markers"
  fi
  awk -v report="$file" -v begin="<!-- $name:begin -->" -v end="<!-- $name:end -->" '
    $0 == begin { print; while ((getline line < report) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip { print }' "$doc" >"$WORK/doc.md"
  cp "$WORK/doc.md" "$doc"
  log "wrote the result into $doc"
}

# report_options "$@": the options of a script that reports into the docs: --update-docs (sets
# UPDATE_DOCS=1) and -h/--help (prints the script's header comment).
# shellcheck disable=SC2034 # UPDATE_DOCS is read by the calling script
report_options() {
  UPDATE_DOCS=0
  local arg
  for arg in "$@"; do
    case $arg in
      --update-docs) UPDATE_DOCS=1 ;;
      -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
        exit 0
        ;;
      *) die "unknown option $arg (try --help)" ;;
    esac
  done
}
