#!/usr/bin/env bash
# Real workloads: record a trace of redis-server under redis-benchmark and of a PostgreSQL backend under
# pgbench, replay each through `cpstream bench` (agent and collector over loopback), and write the
# figures to bench/results.md. Run from anywhere, as root (it installs Debian packages, stops processes
# with SIGSTOP and reads their memory):
#
#   bench/real-workloads.sh                 # EPOCHS=100 EPOCH_MS=50 TRACE_DIR=bench/traces by default
#   REUSE_TRACES=1 bench/real-workloads.sh  # replay the traces TRACE_DIR already holds, record none
#
# Traces are large (a few MB per epoch) and are not committed; TRACE_DIR keeps them (and the recorder's
# summary, NAME.record.json) for reruns.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
EPOCHS="${EPOCHS:-100}"
EPOCH_MS="${EPOCH_MS:-50}"
TRACE_DIR="${TRACE_DIR:-$here/traces}"
RESULTS="${RESULTS:-$here/results.md}"
cpstream="$repo/cpstream"
mkdir -p "$TRACE_DIR"
work="$(mktemp -d /tmp/cpstream-bench.XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [[ -f "$work/pg/postmaster.pid" ]]; then
        runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

need() { # package...: installs the missing ones
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        echo "bench: installing ${missing[*]}" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || shuf -i 20000-60000 -n 1; }

need redis-server redis-tools postgresql postgresql-contrib jq
pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"

record() { # name pid extra-args...: records a trace, keeps the recorder's JSON summary
    local name="$1" pid="$2"; shift 2
    echo "bench: recording $name (pid $pid), $EPOCHS epochs of $EPOCH_MS ms" >&2
    "$cpstream" trace record --pid "$pid" --epoch-ms "$EPOCH_MS" --epochs "$EPOCHS" --out "$TRACE_DIR/$name.cpt" \
        "$@" --json | tail -1 > "$TRACE_DIR/$name.record.json"
}
recorded() { [[ "${REUSE_TRACES:-}" == 1 && -s "$TRACE_DIR/$1.cpt" && -s "$TRACE_DIR/$1.record.json" ]]; }

# --- redis-server under redis-benchmark -------------------------------------------------------------
if ! recorded redis; then
port="$(free_port)"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --loglevel warning \
    > "$work/redis.log" 2>&1 &
redis_pid=$!; pids+=("$redis_pid")
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-benchmark -p "$port" -t set,get,incr,lpush,hset -r 200000 -d 256 -c 8 -n 1000000000 -q > "$work/redis-benchmark.log" 2>&1 &
pids+=("$!")
sleep 5 # let the keyspace fill before recording
record redis "$redis_pid"
kill "${pids[@]}" 2>/dev/null || true; pids=()
fi

# --- a PostgreSQL backend under pgbench (its shared buffers included) --------------------------------
if ! recorded postgres; then
pgport="$(free_port)"
mkdir -p "$work/pg" "$work/sock" "$work/pglog"; chown postgres "$work/pg" "$work/sock" "$work/pglog"
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg" -A trust -U postgres >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pglog/postgres.log" -w \
    -o "-p $pgport -k $work/sock -c listen_addresses='' -c shared_buffers=64MB -c fsync=off" start >/dev/null
pg() { runuser -u postgres -- "$@" -h "$work/sock" -p "$pgport"; }
pg "$pgbin/createdb" bench
pg "$pgbin/pgbench" -q -i -s 10 bench >/dev/null 2>&1
pg "$pgbin/pgbench" -c 1 -j 1 -T 100000 bench > "$work/pgbench.log" 2>&1 &
pids+=("$!")
backend=""
for _ in $(seq 100); do
    backend="$(pg psql -At -d bench -c "select pid from pg_stat_activity where application_name = 'pgbench' limit 1" || true)"
    [[ -n "$backend" ]] && break; sleep 0.1
done
[[ -n "$backend" ]] || { echo "bench: pgbench's backend did not show up" >&2; exit 1; }
sleep 5
record postgres "$backend" --shared
kill "${pids[@]}" 2>/dev/null || true; pids=()
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null
fi

# --- replay both through agent and collector ---------------------------------------------------------
compare="--compare-encoders"
if ! "$cpstream" bench --help 2>/dev/null | grep -q -- "--compare-encoders"; then
    echo "bench: this build's bench has no --compare-encoders; reporting the pipeline figures only" >&2
    compare=""
fi
for name in redis postgres; do
    echo "bench: replaying $name" >&2
    "$cpstream" bench --source "trace:file=$TRACE_DIR/$name.cpt" $compare --warmup-epochs 1 --seconds 600 --json \
        | tail -1 > "$work/$name.bench.json"
done

# --- the table ---------------------------------------------------------------------------------------
{
    echo "# Real workloads: redis and PostgreSQL traces"
    echo
    echo "Regenerate: \`bench/real-workloads.sh\` (as root; EPOCHS=$EPOCHS EPOCH_MS=$EPOCH_MS)."
    echo "Recorded $(date -u +%Y-%m-%d) on $(nproc) CPUs ($(uname -r)); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "- **redis**: redis-server under \`redis-benchmark -t set,get,incr,lpush,hset -r 200000 -d 256 -c 8\`."
    echo "- **postgres**: the backend serving \`pgbench -c 1\` (scale 10, shared_buffers 64MB), shared buffers included."
    echo
    echo "## Recording (process source: SIGSTOP, scan, hash)"
    echo
    echo "| workload | guest space MiB | epochs | epoch ms (actual) | dirty pages/epoch | scanned MB/epoch | scan MB/s | stop p50 ms | stop p99 ms | pause p50 ms | pause p99 ms | trace MB |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for name in redis postgres; do
        pages="$("$cpstream" trace info "$TRACE_DIR/$name.cpt" --json | tail -1 | jq .page_count)"
        jq -r --arg n "$name" --argjson pages "$pages" \
            '"| \($n) | \($pages * 4096 / 1048576 | floor) | \(.epochs) | \(.seconds * 1000 / .epochs | floor) | \(.dirty_pages_per_epoch) | \(.scanned_mb_per_epoch) | \(.scan_mb_per_s) | \(.stop_ms_p50) | \(.stop_ms_p99) | \(.pause_ms_p50) | \(.pause_ms_p99) | \(.file_bytes / 1e6 | floor) |"' \
            "$TRACE_DIR/$name.record.json"
    done
    echo
    echo "## Replay through agent and collector (\`cpstream bench --source trace:file=...\`, max speed)"
    echo
    echo "| workload | seconds | checkpoints/s | pause p50 ms | pause p99 ms | lag p50 ms | lag p99 ms | dirty pages/epoch | wire bytes/dirty page | wire MB/s |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for name in redis postgres; do
        jq -r --arg n "$name" \
            '"| \($n) | \(.seconds_measured) | \(.checkpoints_per_s) | \(.pause_ms_p50) | \(.pause_ms_p99) | \(.lag_ms_p50) | \(.lag_ms_p99) | \(.dirty_pages_per_epoch) | \(.wire_bytes_per_dirty_page) | \(.wire_mb_per_s) |"' \
            "$work/$name.bench.json"
    done
    echo
    if [[ -n "$compare" ]]; then
        echo "## Encoders on the same checkpoints (\`--compare-encoders\`)"
        echo
        for name in redis postgres; do
            echo "### $name"
            echo
            # One row per encoder, one column per figure it reports.
            jq -r '(.encoders // .compare_encoders // []) as $raw
                | ($raw | if type == "object" then (to_entries
                    | map({encoder: .key} + (.value | if type == "object" then . else {value: .} end))) else . end) as $e
                | if ($e | length) == 0 then "(no per-encoder figures in the bench output)" else
                  ($e[0] | keys_unsorted) as $k
                  | ("| " + ($k | join(" | ")) + " |"), ("|" + ($k | map("---") | join("|")) + "|"),
                    ($e[] | "| " + ([.[$k[]] | tostring] | join(" | ")) + " |") end' "$work/$name.bench.json"
            echo
        done
    else
        echo "Per-encoder figures: this build's \`cpstream bench\` has no \`--compare-encoders\` yet; rerun the script once it does."
    fi
} > "$RESULTS"
echo "bench: wrote $RESULTS" >&2
cat "$RESULTS"
