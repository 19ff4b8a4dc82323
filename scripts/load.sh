#!/usr/bin/env bash
# load.sh: holds LOAD_CONNECTIONS (default 10,000) concurrent keep-alive connections to the gateway
# with a request stream through all of them, and measures /health on the side.
#
# The gateway (release build) serves chat through the OpenAI REST surface from its offline `mock`
# provider, so every request takes the gateway's whole path (parse, validate, route, limit,
# provider translation, serialise) while the file descriptors all go to client connections (a
# networked upstream would need one more socket per request in flight, and this machine caps a
# process at 20,000 descriptors; soak.sh covers the upstream pool). wrk opens every connection
# at once and keeps each busy for LOAD_SECONDS; two more wrk probe `GET /health` over 2
# connections each meanwhile, on the API port and on `--admin-port` (a thread of its own), and
# the number of established connections to the gateway is sampled every second. Prints
# requests, errors by kind, the peak connection count and the /health latency percentiles. Exits non-zero when any request failed (socket error, timeout
# or non-2xx) or the peak stayed below LOAD_CONNECTIONS: "holds 10,000 connections, 0 errors".
#
# With --update-docs, writes the result into docs/reliability.md (between its load markers).
# Raises its own open-file limit for wrk and the gateway (each needs one descriptor per
# connection, plus a margin), up to the hard limit. Everything runs on 127.0.0.1.
# Knobs (environment):
#   LOAD_CONNECTIONS=10000   concurrent connections
#   LOAD_SECONDS=30          duration of the request stream
#   LOAD_TIMEOUT_SECONDS=30  a request slower than this counts as an error (wrk --timeout)
#   SKIP_BUILD=1             use existing release binaries (GATEWAY_BIN / MOCK_BIN)
#   CARGO_TARGET_DIR, RUST_LOG as for bench.sh
set -euo pipefail

# Read by lib/harness.sh: the log prefix.
# shellcheck disable=SC2034
HARNESS_NAME=load
# shellcheck source-path=SCRIPTDIR source=lib/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"

report_options "$@"

LOAD_CONNECTIONS=${LOAD_CONNECTIONS:-10000}
LOAD_SECONDS=${LOAD_SECONDS:-30}
LOAD_TIMEOUT_SECONDS=${LOAD_TIMEOUT_SECONDS:-30}
BODY='{"model":"chat","messages":[{"role":"user","content":"hi"}]}'

have wrk || apt_install wrk || die "wrk is required (apt-get install wrk)"
have ss || apt_install iproute2 || die "ss is required (apt-get install iproute2)"
have curl || apt_install curl || die "curl is required"
raise_nofile $((LOAD_CONNECTIONS * 2 + 4096)) $((LOAD_CONNECTIONS + 1024))
build_release

cat >"$WORK/gateway.yaml" <<EOF
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model:
      provider: mock
      name: mock-chat
      config: {}
EOF
# The in-flight bound (--max-in-flight, 4096 by default) would shed part of a 10,000-request
# stream: this script measures holding the connections, so the bound is set above them.
ADMIN_PORT=$(free_port)
start_gateway "$WORK/gateway.yaml" --max-in-flight $((LOAD_CONNECTIONS + 1024)) --admin-port "$ADMIN_PORT"

code=$(curl -s -o "$WORK/check.out" -w '%{http_code}' --max-time 10 -H 'content-type: application/json' \
  --data-binary "$BODY" "$GATEWAY_URL/v1/chat/completions" || true)
[[ $code == 200 ]] || die "preflight chat answered $code: $(cat "$WORK/check.out")"
cat "$WORK/check.out" >&2

cat >"$WORK/chat.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[$BODY]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %d\n", summary.requests, e.connect, e.read,
    e.write, e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
EOF

# Established connections to the gateway's port, sampled each second until told to stop.
sample_connections() {
  local max=0 n
  while [[ ! -f $WORK/stop-sampling ]]; do
    n=$(ss -Htn state established "( sport = :$GATEWAY_PORT )" | wc -l)
    ((n > max)) && max=$n
    printf '%s\n' "$max" >"$WORK/peak-connections"
    sleep 1
  done
}

log "opening $LOAD_CONNECTIONS connections, requests through all of them for ${LOAD_SECONDS}s"
sample_connections &
SAMPLER=$!
PIDS+=("$SAMPLER")
wrk -t 1 -c 2 -d "${LOAD_SECONDS}s" --latency "$GATEWAY_URL/health" >"$WORK/health.out" 2>&1 &
HEALTH=$!
wrk -t 1 -c 2 -d "${LOAD_SECONDS}s" --latency "http://$HOST:$ADMIN_PORT/health" >"$WORK/admin.out" 2>&1 &
ADMIN=$!
rc=0
wrk -t 2 -c "$LOAD_CONNECTIONS" -d "${LOAD_SECONDS}s" --timeout "${LOAD_TIMEOUT_SECONDS}s" \
  -s "$WORK/chat.lua" "$GATEWAY_URL/v1/chat/completions" >"$WORK/load.out" 2>&1 || rc=$?
wait "$HEALTH" || rc=$?
wait "$ADMIN" || rc=$?
touch "$WORK/stop-sampling"
wait "$SAMPLER" 2>/dev/null || true
[[ $rc == 0 ]] || {
  cat "$WORK/load.out" "$WORK/health.out" >&2
  die "wrk failed ($rc)"
}

read -r requests connect read write timeout status p50 p99 < <(awk '$1 == "RESULT" { $1 = ""; print }' "$WORK/load.out")
peak=$(cat "$WORK/peak-connections" 2>/dev/null || echo 0)
errors=$((connect + read + write + timeout + status))
latencies() { awk '/Latency Distribution/ { on = 1; next } on && /%/ { printf "%s %s  ", $1, $2 } on && !/%/ { on = 0 }' "$1"; }
health=$(latencies "$WORK/health.out")
health_reqs=$(awk '/requests in/ { print $1 }' "$WORK/health.out")
admin=$(latencies "$WORK/admin.out")
admin_reqs=$(awk '/requests in/ { print $1 }' "$WORK/admin.out")
health_errors=$(cat "$WORK/health.out" "$WORK/admin.out" | awk '/Socket errors|Non-2xx/ { n += 1 } END { print n + 0 }')

REPORT=$(
  cat <<EOF
$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo none), $(nproc) cores, release build, ${LOAD_SECONDS} s.

| | |
|---|---|
| connections held | $peak established at the peak (asked: $LOAD_CONNECTIONS) |
| chat requests | $requests, $(awk -v r="$requests" -v s="$LOAD_SECONDS" 'BEGIN { printf "%.0f", r / s }') req/s, p50 $(awk -v v="$p50" 'BEGIN { printf "%.1f", v / 1000 }') ms, p99 $(awk -v v="$p99" 'BEGIN { printf "%.1f", v / 1000 }') ms |
| errors | $errors (connect $connect, read $read, write $write, timeout $timeout, non-2xx $status) |
| \`/health\` meanwhile, API port | $health_reqs requests; latency $health|
| \`/health\` meanwhile, \`--admin-port\` | $admin_reqs requests; latency $admin|
| \`/health\` errors | $health_errors |
| gateway RSS | $(mib "$(rss_kib "$GATEWAY_PID" VmRSS)") at the end, peak $(mib "$(rss_kib "$GATEWAY_PID" VmHWM)") |
EOF
)
echo
echo "## llm-gateway load: $LOAD_CONNECTIONS connections"
echo
printf '%s\n' "$REPORT"

failed=0
if ((errors > 0 || health_errors > 0)); then
  log "FAILED: $errors chat errors, $health_errors /health error lines"
  failed=1
fi
if ((peak < LOAD_CONNECTIONS)); then
  log "FAILED: the gateway held at most $peak connections, not $LOAD_CONNECTIONS"
  failed=1
fi
if [[ $UPDATE_DOCS == 1 ]]; then
  printf '%s\n' "$REPORT" >"$WORK/report.md"
  write_doc_block docs/reliability.md load "$WORK/report.md"
fi
exit "$failed"
