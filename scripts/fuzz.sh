#!/usr/bin/env bash
# fuzz.sh: runs the libFuzzer targets of fuzz/ (cargo-fuzz, nightly toolchain), each for a
# bounded time, starting from the checked-in seeds in fuzz/corpus/<target>/. See
# docs/reliability.md, "Fuzzing", for what each target checks.
#
# Usage: scripts/fuzz.sh [--seconds N] [--update-corpus] [--sanitizer S] [target...]
#   target            config rest_request upstream_sse bedrock_event_stream connect grpc_web
#                     (default: all of them, one after the other)
#   --seconds N       fuzzing time per target (default 60)
#   --update-corpus   afterwards, merge the inputs that add coverage into fuzz/corpus/<target>/
#                     (libFuzzer -merge=1; review and commit them like any test data)
#   --sanitizer S     none (default: safe Rust, faster), address, leak, ...
#   -h, --help
# New inputs go to a scratch corpus, never into the repository unless --update-corpus:
# $FUZZ_WORK_DIR (default $HOME/.cache/llm-gateway/fuzz)/corpus/<target>/; crashes, timeouts and
# out-of-memory inputs to .../artifacts/<target>/, whose paths are printed. Exit status is
# non-zero when any target found one (a crash must become a regression test: add the input to
# fuzz/corpus/<target>/, which the unit tests replay, and fix the bug).
# Every run is limited: -max_len, -rss_limit_mb=2048, -timeout=10 (seconds per input).
# Environment:
#   CARGO_TARGET_DIR  default $HOME/.cache/llm-gateway/fuzz-target (not the main build's)
#   FUZZ_WORK_DIR     scratch corpora, artifacts and logs (see above)
#   FUZZ_NICE         niceness of the build and the runs (default 19)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT/fuzz"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llm-gateway/fuzz-target}"
WORK="${FUZZ_WORK_DIR:-$HOME/.cache/llm-gateway/fuzz}"
NICE="${FUZZ_NICE:-19}"
ALL_TARGETS=(config rest_request upstream_sse bedrock_event_stream connect grpc_web)

usage() { sed -n '2,/^set -euo/p' "$REPO_ROOT/scripts/fuzz.sh" | sed -e '$d' -e 's/^# \{0,1\}//'; }

SECONDS_EACH=60
UPDATE=0
SANITIZER=none
TARGETS=()
while (($#)); do
  case "$1" in
    --seconds)
      SECONDS_EACH="${2:?--seconds needs a value}"
      shift
      ;;
    --update-corpus) UPDATE=1 ;;
    --sanitizer)
      SANITIZER="${2:?--sanitizer needs a value}"
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*)
      echo "fuzz.sh: unknown option $1" >&2
      usage >&2
      exit 2
      ;;
    *)
      if [[ " ${ALL_TARGETS[*]} " != *" $1 "* ]]; then
        echo "fuzz.sh: unknown target $1 (targets: ${ALL_TARGETS[*]})" >&2
        exit 2
      fi
      TARGETS+=("$1")
      ;;
  esac
  shift
done
((${#TARGETS[@]})) || TARGETS=("${ALL_TARGETS[@]}")
[[ "$SECONDS_EACH" =~ ^[0-9]+$ ]] || {
  echo "fuzz.sh: --seconds takes a whole number" >&2
  exit 2
}

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: cargo-fuzz needs the nightly toolchain: rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  nice -n "$NICE" cargo install cargo-fuzz --locked
fi

# Per target: the longest input, and the dictionary (if any).
max_len() {
  case "$1" in
    config) echo 8192 ;;
    *) echo 4096 ;;
  esac
}
dict() {
  case "$1" in
    config) echo dict/yaml.dict ;;
    rest_request | connect) echo dict/json.dict ;;
    upstream_sse) echo dict/sse.dict ;;
    bedrock_event_stream) echo dict/bedrock_event_stream.dict ;;
    *) echo "" ;;
  esac
}

# One build of every target, then the binaries run directly (`cargo fuzz run` would rebuild first).
echo "== building the fuzz targets (sanitizer: $SANITIZER; target dir $CARGO_TARGET_DIR)"
nice -n "$NICE" cargo +nightly fuzz build -s "$SANITIZER"
HOST=$(rustc +nightly -vV | sed -n 's/^host: //p')
BIN_DIR="$CARGO_TARGET_DIR/$HOST/release"

FAILED=()
SUMMARY=()
for t in "${TARGETS[@]}"; do
  corpus="$WORK/corpus/$t" artifacts="$WORK/artifacts/$t" log="$WORK/logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  args=(-max_total_time="$SECONDS_EACH" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10
    -artifact_prefix="$artifacts/" -print_final_stats=1)
  d=$(dict "$t")
  [[ -z "$d" ]] || args+=(-dict="$d")
  stamp="$WORK/logs/.$t.start"
  touch "$stamp"
  echo "== fuzzing $t for ${SECONDS_EACH}s (new inputs: $corpus; log: $log)"
  rc=0
  # The scratch corpus first: libFuzzer writes new inputs to the first directory only.
  nice -n "$NICE" "$BIN_DIR/$t" "${args[@]}" "$corpus" "corpus/$t" >"$log" 2>&1 || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  SUMMARY+=("$t: rc=$rc execs=${execs:-?} ${cov:-} in ${SECONDS_EACH}s")
  found=$(find "$artifacts" -type f -newer "$stamp" | sort)
  if ((rc != 0)) || [[ -n "$found" ]]; then
    FAILED+=("$t")
    echo "!! $t failed (exit $rc); the end of its log:" >&2
    grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | tail -8 >&2 || tail -20 "$log" >&2
    for a in $found; do
      echo "   artifact: $a   (replay: $BIN_DIR/$t $a)" >&2
    done
  fi
  if ((UPDATE)); then
    echo "== merging new coverage of $t into fuzz/corpus/$t"
    nice -n "$NICE" "$BIN_DIR/$t" -merge=1 -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
      "corpus/$t" "$corpus" >>"$log" 2>&1
  fi
done

echo "== summary"
printf '   %s\n' "${SUMMARY[@]}"
if ((${#FAILED[@]})); then
  echo "fuzz.sh: failures in: ${FAILED[*]} (artifacts under $WORK/artifacts/)" >&2
  exit 1
fi
