#!/usr/bin/env bash
# soak.sh: sends SOAK_REQUESTS (default 1,000,000) requests through the gateway to the mock
# upstream, a mix of streaming and non-streaming calls on the MLflow and OpenAI surfaces with 10%
# faulty upstreams, and samples the gateway's memory the whole time.
#
# The mix, cycled per wrk thread (20 requests):
#   OpenAI chat x5, streamed x4; MLflow /gateway chat x2, streamed x1; /endpoints chat x1;
#   completions x2, streamed x1; embeddings x2                                  (90%: answered)
#   an upstream answering 500 text/plain                                        (5%: 500 JSON)
#   a stream whose upstream connection drops after two chunks                   (5%: 200, then
#                                                                                one error event)
# Every answer is classified by wrk from its status and body: answered (2xx, complete: a JSON
# body or an SSE stream ending in [DONE]), an expected failure of the fault it was sent to, or
# unexpected (anything else, including socket errors and timeouts). RSS (and open descriptors)
# are sampled each second; after a warm-up (the first 10% of samples) memory must stay within
# 10% of the first sample after it.
#
# Exits non-zero on any unexpected answer or when memory grew by more than 10%. With
# --update-docs, writes the result into docs/reliability.md (between its soak markers).
# Knobs (environment):
#   SOAK_REQUESTS=1000000   total requests (a multiple of 40 keeps the mix exact)
#   SOAK_CONNECTIONS=64     concurrent connections
#   SKIP_BUILD=1            use existing release binaries (GATEWAY_BIN / MOCK_BIN)
#   CARGO_TARGET_DIR, RUST_LOG as for bench.sh
set -euo pipefail

# Read by lib/harness.sh: the log prefix.
# shellcheck disable=SC2034
HARNESS_NAME=soak
# shellcheck source-path=SCRIPTDIR source=lib/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"

report_options "$@"

SOAK_REQUESTS=${SOAK_REQUESTS:-1000000}
SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-64}
THREADS=2

have wrk || apt_install wrk || die "wrk is required (apt-get install wrk)"
have curl || apt_install curl || die "curl is required"
build_release
# shellcheck disable=SC2119 # the mock takes no extra flags here
start_mock

cat >"$WORK/gateway.yaml" <<EOF
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: gpt-4o-mini, config: {openai_api_key: soak-key, openai_api_base: "$MOCK_URL/v1"}}
  - name: completions
    endpoint_type: llm/v1/completions
    model: {provider: openai, name: gpt-3.5-turbo-instruct, config: {openai_api_key: soak-key, openai_api_base: "$MOCK_URL/v1"}}
  - name: embeddings
    endpoint_type: llm/v1/embeddings
    model: {provider: openai, name: text-embedding-3-small, config: {openai_api_key: soak-key, openai_api_base: "$MOCK_URL/v1"}}
  - name: fault-500
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: err500text, config: {openai_api_key: soak-key, openai_api_base: "$MOCK_URL/v1"}}
  - name: fault-cut
    endpoint_type: llm/v1/chat
    model: {provider: openai, name: stream-cut, config: {openai_api_key: soak-key, openai_api_base: "$MOCK_URL/v1"}}
EOF
start_gateway "$WORK/gateway.yaml"

cat >"$WORK/soak.lua" <<'EOF'
local msg = '"messages":[{"role":"user","content":"hi"}]'
local mix = {
  {"/v1/chat/completions", '{"model":"chat",' .. msg .. '}'},
  {"/v1/chat/completions", '{"model":"chat","stream":true,' .. msg .. '}'},
  {"/v1/chat/completions", '{"model":"chat",' .. msg .. '}'},
  {"/gateway/chat/invocations", '{' .. msg .. '}'},
  {"/v1/chat/completions", '{"model":"chat","stream":true,' .. msg .. '}'},
  {"/v1/completions", '{"model":"completions","prompt":"hi"}'},
  {"/v1/chat/completions", '{"model":"fault-500",' .. msg .. '}'},
  {"/v1/chat/completions", '{"model":"chat",' .. msg .. '}'},
  {"/v1/embeddings", '{"model":"embeddings","input":"hi"}'},
  {"/gateway/chat/invocations", '{"stream":true,' .. msg .. '}'},
  {"/v1/chat/completions", '{"model":"chat","stream":true,' .. msg .. '}'},
  {"/endpoints/chat/invocations", '{' .. msg .. '}'},
  {"/v1/completions", '{"model":"completions","prompt":"hi","stream":true}'},
  {"/v1/chat/completions", '{"model":"chat",' .. msg .. '}'},
  {"/v1/chat/completions", '{"model":"fault-cut","stream":true,' .. msg .. '}'},
  {"/gateway/chat/invocations", '{' .. msg .. '}'},
  {"/v1/embeddings", '{"model":"embeddings","input":["a","b"]}'},
  {"/v1/chat/completions", '{"model":"chat","stream":true,' .. msg .. '}'},
  {"/v1/completions", '{"model":"completions","prompt":"hi"}'},
  {"/v1/chat/completions", '{"model":"chat",' .. msg .. '}'},
}
local requests = {}
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

init = function(args)
  limit = tonumber(args[1])
  marker = args[2]
  for i, m in ipairs(mix) do
    requests[i] = wrk.format("POST", m[1], {["Content-Type"] = "application/json"}, m[2])
  end
  sent, answered, fault500, faultcut, unexpected, sample = 0, 0, 0, 0, 0, ""
end

request = function()
  sent = sent + 1
  return requests[(sent - 1) % #requests + 1]
end

response = function(status, headers, body)
  answered = answered + 1
  if status == 500 and body:find("boom plain", 1, true) then
    fault500 = fault500 + 1
  elseif status == 200 and body:find('"model":"stream-cut"', 1, true)
      and body:find('data: {"error":{', 1, true) and not body:find("[DONE]", 1, true) then
    faultcut = faultcut + 1
  elseif status == 200 and not body:find('"error":{', 1, true)
      and (body:sub(1, 1) == "{" or body:find("data: [DONE]\n\n", 1, true)) then
    -- answered: a JSON body, or a stream that ended properly
  else
    unexpected = unexpected + 1
    if #sample < 600 then
      sample = sample .. string.format("[%d] %s\n", status, body:sub(1, 200))
    end
  end
  if answered == limit then
    -- This thread's share is done: say so (wrk's main thread is interrupted once all are).
    local f = io.open(marker .. "." .. id, "w")
    if f then f:close() end
    wrk.thread:stop()
  end
end

done = function(summary, latency, _)
  local a, f5, fc, u = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("answered")
    f5 = f5 + t:get("fault500")
    fc = fc + t:get("faultcut")
    u = u + t:get("unexpected")
    local s = t:get("sample")
    if s ~= "" then io.write("SAMPLE ", s) end
  end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %d\n", a, f5, fc, u,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99),
    summary.duration))
end
EOF

SAMPLES="$WORK/rss.tsv"
sample_memory() {
  local t=0 fds
  while [[ ! -f $WORK/stop-sampling ]] && kill -0 "$GATEWAY_PID" 2>/dev/null; do
    fds=$(find "/proc/$GATEWAY_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    printf '%d\t%s\t%s\n' "$t" "$(rss_kib "$GATEWAY_PID" VmRSS)" "$fds" >>"$SAMPLES"
    sleep 1
    t=$((t + 1))
  done
}

per_thread=$((SOAK_REQUESTS / THREADS))
log "sending $SOAK_REQUESTS requests over $SOAK_CONNECTIONS connections (10% to faulty upstreams)"
RSS_START=$(rss_kib "$GATEWAY_PID" VmRSS)
sample_memory &
PIDS+=("$!")
CPU_BEFORE=$(cpu_ticks "$GATEWAY_PID")
# Each thread stops itself after its share of answers and leaves a marker file; wrk (whose
# main thread otherwise sleeps out its -d ceiling) is then interrupted and prints the summary.
wrk -t "$THREADS" -c "$SOAK_CONNECTIONS" -d "${SOAK_MAX_SECONDS:-3600}s" --timeout 30s \
  -s "$WORK/soak.lua" "$GATEWAY_URL" -- "$per_thread" "$WORK/thread-done" >"$WORK/soak.out" 2>&1 &
WRK_PID=$!
while kill -0 "$WRK_PID" 2>/dev/null; do
  done_threads=$(find "$WORK" -maxdepth 1 -name 'thread-done.*' | wc -l)
  if ((done_threads >= THREADS)); then
    kill -INT "$WRK_PID" 2>/dev/null || true
    break
  fi
  sleep 0.5
done
wait "$WRK_PID" || {
  cat "$WORK/soak.out" >&2
  die "wrk failed"
}
CPU_AFTER=$(cpu_ticks "$GATEWAY_PID")
touch "$WORK/stop-sampling"
wait "${PIDS[-1]}" 2>/dev/null || true
grep '^SAMPLE' "$WORK/soak.out" >&2 || true

read -r answered fault500 faultcut unexpected sockerr p50 p99 duration_us \
  < <(awk '$1 == "RESULT" { $1 = ""; print }' "$WORK/soak.out")
[[ -n ${answered:-} ]] || {
  cat "$WORK/soak.out" >&2
  die "wrk printed no result"
}
# Memory: warm-up is the first 10% of the samples; the bar is 10% over the first sample after it.
read -r samples warm_rss max_rss end_rss max_fds < <(awk -F'\t' '
  { rss[NR] = $2; if ($3 > fds) fds = $3 }
  END {
    w = int(NR / 10) + 1; max = 0
    for (i = w; i <= NR; i++) if (rss[i] > max) max = rss[i]
    print NR, rss[w], max, rss[NR], fds
  }' "$SAMPLES")
growth=$(awk -v a="$warm_rss" -v b="$max_rss" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
secs=$(awk -v d="$duration_us" 'BEGIN { printf "%.0f", d / 1e6 }')
clk=$(getconf CLK_TCK)

REPORT=$(
  cat <<EOF
$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo none), $(nproc) cores,
release build, $SOAK_CONNECTIONS connections (wrk, HTTP/1.1 keep-alive), mock upstream on 127.0.0.1.

| | |
|---|---|
| requests answered | $answered in ${secs} s ($(awk -v a="$answered" -v s="$secs" 'BEGIN { printf "%.0f", a / s }') req/s), p50 $(awk -v v="$p50" 'BEGIN { printf "%.2f", v / 1000 }') ms, p99 $(awk -v v="$p99" 'BEGIN { printf "%.2f", v / 1000 }') ms |
| expected failures | $fault500 upstream 500s answered 500 JSON, $faultcut cut streams ended with an error event ($(awk -v f="$((fault500 + faultcut))" -v a="$answered" 'BEGIN { printf "%.1f", f * 100 / a }')% of all) |
| unexpected answers | $unexpected (and $sockerr socket errors or timeouts) |
| gateway CPU | $(awk -v c="$((CPU_AFTER - CPU_BEFORE))" -v t="$clk" -v a="$answered" 'BEGIN { printf "%.1f", c * 1e6 / t / a }') µs per request |
| RSS | $(mib "$RSS_START") before, $(mib "$warm_rss") after warm-up, max $(mib "$max_rss") after it (+${growth}%), $(mib "$end_rss") at the end; $samples samples |
| open descriptors | at most $max_fds |
EOF
)
echo
echo "## llm-gateway soak: $answered requests"
echo
printf '%s\n' "$REPORT"

failed=0
if ((unexpected > 0 || sockerr > 0)); then
  log "FAILED: $unexpected unexpected answers, $sockerr socket errors"
  failed=1
fi
if awk -v g="$growth" 'BEGIN { exit !(g > 10) }'; then
  log "FAILED: memory grew ${growth}% after warm-up (bar: 10%)"
  failed=1
fi

if [[ $UPDATE_DOCS == 1 ]]; then
  printf '%s\n' "$REPORT" >"$WORK/report.md"
  write_doc_block docs/reliability.md soak "$WORK/report.md"
fi
exit "$failed"
