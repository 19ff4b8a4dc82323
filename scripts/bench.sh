#!/usr/bin/env bash
# bench.sh: the llm-gateway benchmark (a benchmark, not a test: it never fails on a number).
#
# Measures non-streaming chat against the deterministic mock upstream (`mock-upstream`, no
# recording) three ways, at several concurrencies, for a fixed duration each:
#   direct        load generator -> mock             POST /v1/chat/completions (the ceiling)
#   gateway REST  load generator -> gateway -> mock  POST /v1/chat/completions (OpenAI surface)
#   gateway gRPC  h2load         -> gateway -> mock  llmgateway.v1.ChatService/Chat (unary, h2c)
# and prints a Markdown table (req/s, p50, p99, the gateway's CPU per request, throughput relative
# to direct), the gateway's idle / after-load / peak RSS, and the latency the gateway adds at c=1.
# The design's bar (design.md §6): ~50% of direct at c=64 is the practical ceiling for a proxy.
#
# Everything runs on 127.0.0.1 and is stopped on exit. Knobs (environment):
#   BENCH_SECONDS=10          duration of each measured run
#   BENCH_CONCURRENCY="1 16 64"
#   BENCH_SCENARIOS="direct rest grpc"
#   BENCH_WARMUP_SECONDS=1    unmeasured warm-up per scenario
#   LOADGEN=auto|wrk|oha      HTTP/1.1 load generator (auto: wrk, the tool design §6 used, else oha)
#   CARGO_TARGET_DIR          honoured; default $HOME/.cache/llm-gateway/target
#   BENCH_SKIP_BUILD=1        use existing binaries (GATEWAY_BIN / MOCK_BIN may point at them)
#   RUST_LOG                  passed to the gateway (default: warn, so logging is not measured)
set -euo pipefail

# Read by lib/harness.sh: the log prefix, and whether to skip the release build.
# shellcheck disable=SC2034
HARNESS_NAME=bench
# shellcheck disable=SC2034
SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
# shellcheck source-path=SCRIPTDIR source=lib/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-"1 16 64"}
BENCH_SCENARIOS=${BENCH_SCENARIOS:-"direct rest grpc"}
BENCH_WARMUP_SECONDS=${BENCH_WARMUP_SECONDS:-1}
LOADGEN=${LOADGEN:-auto}
TOOLS_DIR="$HOME/.cache/llm-gateway/tools"
OHA_VERSION=1.16.0
export PATH="$TOOLS_DIR/bin:$PATH"

# >>> GRPC_BODY: one gRPC message; edit here if proto/llmgateway/v1/chat.proto's numbers change <<<
# Frame: 00 (not compressed) + 00 00 00 12 (big-endian length: 18 bytes), then the protobuf bytes:
#   0a 04 "chat"      ChatRequest.endpoint     = "chat"  (field 1, length-delimited, 4 bytes)
#   12 0a             ChatRequest.messages[0]            (field 2, length-delimited, 10 bytes):
#     0a 04 "user"      Message.role           = "user"  (field 1)
#     12 02 "hi"        Message.content        = "hi"    (field 2)
GRPC_BODY='\x00\x00\x00\x00\x12\x0a\x04chat\x12\x0a\x0a\x04user\x12\x02hi'
GRPC_PATH=/llmgateway.v1.ChatService/Chat

DIRECT_BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
GATEWAY_BODY='{"model":"chat","messages":[{"role":"user","content":"hi"}]}'

# ---------------------------------------------------------------- tools

install_oha() {
  have oha && return 0
  have cargo || return 1
  log "installing oha $OHA_VERSION into $TOOLS_DIR (one-off, a few minutes)"
  cargo info "oha@$OHA_VERSION" >/dev/null 2>&1 || return 1
  # A target dir of its own, so the tool's build never invalidates the gateway's.
  CARGO_TARGET_DIR="$HOME/.cache/llm-gateway/tools-target" \
    cargo install oha --version "$OHA_VERSION" --locked --root "$TOOLS_DIR" >&2
}

ensure_tools() {
  have curl || apt_install curl || die "curl is required"
  case $LOADGEN in
    auto)
      if have wrk || apt_install wrk; then
        LOADGEN=wrk
      elif install_oha; then
        LOADGEN=oha
      else
        die "no HTTP load generator: install wrk (apt) or oha (cargo install oha)"
      fi
      ;;
    wrk) have wrk || apt_install wrk || die "wrk is not installed and could not be installed" ;;
    oha) install_oha || die "oha is not installed and could not be installed" ;;
    *) die "LOADGEN must be auto, wrk or oha (got '$LOADGEN')" ;;
  esac
  if [[ " $BENCH_SCENARIOS " == *" grpc "* ]] && ! have h2load; then
    apt_install nghttp2-client || log "h2load unavailable: the gRPC scenario will be skipped"
  fi
}

# ---------------------------------------------------------------- processes

needs_gateway() { [[ " $BENCH_SCENARIOS " == *" rest "* || " $BENCH_SCENARIOS " == *" grpc "* ]]; }

bench_gateway() {
  cat >"$WORK/gateway.yaml" <<EOF
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model:
      provider: openai
      name: gpt-4o-mini
      config:
        openai_api_key: bench-key
        openai_api_base: $MOCK_URL/v1
EOF
  start_gateway "$WORK/gateway.yaml"
}

# ---------------------------------------------------------------- measurements

# Preflight: one request per surface, so a broken route fails loudly instead of benchmarking 404s.
check_http() { # url body
  local code
  code=$(curl -s -o "$WORK/check.out" -w '%{http_code}' --max-time 10 \
    -H 'content-type: application/json' -H 'authorization: Bearer bench-key' --data-binary "$2" "$1" || true)
  if [[ $code != 200 ]] || ! grep -q 'Hello from mock' "$WORK/check.out"; then
    cat "$WORK/check.out" >&2 || true
    [[ -f $WORK/gateway.log ]] && cat "$WORK/gateway.log" >&2
    die "preflight POST $1 answered $code"
  fi
}

check_grpc() {
  local out status
  out=$(curl -s --http2-prior-knowledge --max-time 10 -D - -o "$WORK/grpc.out" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    --data-binary "@$WORK/grpc.bin" "$GATEWAY_URL$GRPC_PATH" || true)
  status=$(tr -d '\r' <<<"$out" | awk -F': ' 'tolower($1) == "grpc-status" { print $2 }' | tail -n 1)
  if [[ $status != 0 ]] || ! grep -q 'Hello from mock' "$WORK/grpc.out"; then
    printf '%s\n' "$out" >&2
    cat "$WORK/gateway.log" >&2 || true
    die "preflight gRPC $GRPC_PATH failed (grpc-status '${status:-none}'); check GRPC_BODY in $0"
  fi
}

# Each runner prints: "<requests> <seconds> <p50 µs> <p99 µs> <errors>".

run_wrk() { # conc url body seconds
  local threads=$(($1 < 2 ? $1 : 2))
  cat >"$WORK/wrk.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-key"
wrk.body = [==[$3]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %f %d %d %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
EOF
  wrk -t "$threads" -c "$1" -d "${4}s" -s "$WORK/wrk.lua" "$2" >"$WORK/load.out" 2>&1 || {
    cat "$WORK/load.out" >&2
    die "wrk failed"
  }
  awk '$1 == "RESULT" { print $2, $3, $4, $5, $6 }' "$WORK/load.out"
}

run_oha() { # conc url body seconds
  printf '%s' "$3" >"$WORK/body.json"
  oha -z "${4}s" -c "$1" --no-tui --output-format json -m POST \
    -H 'content-type: application/json' -H 'authorization: Bearer bench-key' \
    -D "$WORK/body.json" "$2" >"$WORK/load.out" 2>"$WORK/load.err" || {
    cat "$WORK/load.err" >&2
    die "oha failed"
  }
  python3 - "$WORK/load.out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
codes = r.get("statusCodeDistribution", {})
ok = sum(v for k, v in codes.items() if k.startswith("2"))
# Requests still in flight at the deadline are cut by oha itself: not errors of the server.
errs = {k: v for k, v in r.get("errorDistribution", {}).items() if k != "aborted due to deadline"}
bad = sum(v for k, v in codes.items() if not k.startswith("2")) + sum(errs.values())
p = r["latencyPercentiles"]
print(ok + bad, s["total"], round((p["p50"] or 0) * 1e6), round((p["p99"] or 0) * 1e6), bad)
PY
}

run_h2load() { # conc url bodyfile seconds
  local threads=$(($1 < 2 ? $1 : 2))
  rm -f "$WORK/h2load.log"
  h2load -c "$1" -t "$threads" -m 1 -D "$4" -d "$3" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    --log-file="$WORK/h2load.log" "$2" >"$WORK/load.out" 2>&1 || {
    cat "$WORK/load.out" >&2
    die "h2load failed"
  }
  # Per-request log: start µs, HTTP status, duration µs. gRPC errors ride on HTTP 200 with a
  # grpc-status trailer, which h2load cannot see: the preflight above checks one call instead.
  sort -n -k3,3 "$WORK/h2load.log" | awk -v secs="$4" '
    { d[NR] = $3; if ($2 != 200) bad++ }
    END {
      if (NR == 0) { print 0, secs, 0, 0, 0; exit }
      i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
      i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
      print NR, secs, d[i50], d[i99], bad + 0
    }'
}

http_load() { # conc url body seconds
  if [[ $LOADGEN == wrk ]]; then run_wrk "$@"; else run_oha "$@"; fi
}

ROWS=()
declare -A DIRECT_RPS P50

measure() { # scenario conc
  local scenario=$1 conc=$2 result before after cpu="" out
  local secs=$BENCH_SECONDS
  case $scenario in
    direct) result=$(http_load "$conc" "$MOCK_URL/v1/chat/completions" "$DIRECT_BODY" "$secs") ;;
    rest | grpc)
      before=$(cpu_ticks "$GATEWAY_PID")
      if [[ $scenario == rest ]]; then
        result=$(http_load "$conc" "$GATEWAY_URL/v1/chat/completions" "$GATEWAY_BODY" "$secs")
      else
        result=$(run_h2load "$conc" "$GATEWAY_URL$GRPC_PATH" "$WORK/grpc.bin" "$secs")
      fi
      after=$(cpu_ticks "$GATEWAY_PID")
      cpu=$((after - before))
      ;;
  esac
  [[ -n $result ]] || die "$scenario c=$conc produced no result"
  out=$(awk -v scen="$scenario" -v conc="$conc" -v cpu="$cpu" -v tck="$CLK_TCK" \
    -v drps="${DIRECT_RPS[$conc]:-}" '
    {
      reqs = $1; secs = $2; rps = (secs > 0) ? reqs / secs : 0
      name = (scen == "direct") ? "direct (mock)" : (scen == "rest") ? "gateway REST" : "gateway gRPC"
      cpu_s = (cpu == "") ? "-" : (reqs > 0 ? sprintf("%.1f", cpu * 1e6 / tck / reqs) : "n/a")
      ratio = (scen == "direct") ? "100%" : (drps > 0 ? sprintf("%.1f%%", 100 * rps / drps) : "-")
      printf "ROW| %s | %d | %.0f | %.3f | %.3f | %s | %s | %d |\n", name, conc, rps, $3 / 1000, $4 / 1000, cpu_s, ratio, $5
      printf "RPS %.3f\nP50 %d\n", rps, $3
    }' <<<"$result")
  ROWS+=("$(sed -n 's/^ROW//p' <<<"$out")")
  P50[$scenario.$conc]=$(awk '$1 == "P50" { print $2 }' <<<"$out")
  if [[ $scenario == direct ]]; then
    DIRECT_RPS[$conc]=$(awk '$1 == "RPS" { print $2 }' <<<"$out")
  fi
  log "done: ${ROWS[-1]}"
}

warm_up() { # scenario
  [[ $BENCH_WARMUP_SECONDS -gt 0 ]] || return 0
  case $1 in
    direct) http_load 16 "$MOCK_URL/v1/chat/completions" "$DIRECT_BODY" "$BENCH_WARMUP_SECONDS" >/dev/null ;;
    rest) http_load 16 "$GATEWAY_URL/v1/chat/completions" "$GATEWAY_BODY" "$BENCH_WARMUP_SECONDS" >/dev/null ;;
    grpc) run_h2load 16 "$GATEWAY_URL$GRPC_PATH" "$WORK/grpc.bin" "$BENCH_WARMUP_SECONDS" >/dev/null ;;
  esac
}

# ---------------------------------------------------------------- main

ensure_tools
build_release
CLK_TCK=$(getconf CLK_TCK)
printf '%b' "$GRPC_BODY" >"$WORK/grpc.bin"

for s in $BENCH_SCENARIOS; do
  case $s in direct | rest | grpc) ;; *) die "unknown scenario '$s' (direct, rest, grpc)" ;; esac
done
# Canonical order: the ratio column needs the direct numbers of a concurrency first.
SCENARIOS=()
for s in direct rest grpc; do
  [[ " $BENCH_SCENARIOS " == *" $s "* ]] || continue
  if [[ $s == grpc ]] && ! have h2load; then
    log "skipping gRPC: h2load not installed"
    continue
  fi
  SCENARIOS+=("$s")
done
[[ ${#SCENARIOS[@]} -gt 0 ]] || die "no scenario to run"

# shellcheck disable=SC2119 # the mock takes no extra flags here
start_mock
check_http "$MOCK_URL/v1/chat/completions" "$DIRECT_BODY"
RSS_IDLE="" RSS_AFTER="" RSS_PEAK=""
if needs_gateway; then
  bench_gateway
  if [[ " ${SCENARIOS[*]} " == *" rest "* ]]; then
    check_http "$GATEWAY_URL/v1/chat/completions" "$GATEWAY_BODY"
  fi
  if [[ " ${SCENARIOS[*]} " == *" grpc "* ]]; then
    check_grpc
  fi
  RSS_IDLE=$(rss_kib "$GATEWAY_PID" VmRSS)
fi

LOADAVG_BEFORE=$(cut -d ' ' -f 1-3 /proc/loadavg)
for s in "${SCENARIOS[@]}"; do
  warm_up "$s"
done
for conc in $BENCH_CONCURRENCY; do
  for s in "${SCENARIOS[@]}"; do
    log "running $s at c=$conc for ${BENCH_SECONDS}s"
    measure "$s" "$conc"
  done
done
if needs_gateway; then
  RSS_AFTER=$(rss_kib "$GATEWAY_PID" VmRSS)
  # VmHWM is maintained lazily by the kernel and can trail VmRSS slightly: report the largest.
  RSS_PEAK=$(printf '%s\n' "$(rss_kib "$GATEWAY_PID" VmHWM)" "$RSS_IDLE" "$RSS_AFTER" | sort -n | tail -n 1)
fi

{
  echo
  echo "## llm-gateway benchmark"
  echo
  # The load average tells a reader whether something else was competing for the cores.
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo none)," \
    "$(nproc) cores, load average $LOADAVG_BEFORE before the runs," \
    "${BENCH_SECONDS}s per run, load: $LOADGEN (HTTP/1.1 keep-alive), h2load (gRPC)"
  echo
  echo "| scenario | conc | req/s | p50 ms | p99 ms | gateway CPU µs/req | ratio vs direct | errors |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  if needs_gateway; then
    echo "Gateway RSS: idle $(mib "$RSS_IDLE"), after load $(mib "$RSS_AFTER"), peak $(mib "$RSS_PEAK")"
    first_conc=${BENCH_CONCURRENCY%% *}
    for s in rest grpc; do
      d=${P50[direct.$first_conc]:-} g=${P50[$s.$first_conc]:-}
      if [[ -n $d && -n $g ]]; then
        echo "Added p50 latency at c=$first_conc ($s): $((g - d)) µs (gateway $g µs - direct $d µs)"
      fi
    done
  fi
}
