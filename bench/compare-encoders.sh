#!/usr/bin/env bash
# The encoder table of diff-encoder/README.md: `cpstream bench --compare-encoders` over every sim workload and the
# redis and PostgreSQL traces (when bench/traces holds them: bench/real-workloads.sh records them), for windows of
# 20 s and 60 s, and a Markdown table of the figures, written between the README's encoder-table markers.
#
#   bench/compare-encoders.sh                       # WINDOWS="20 60" MEM=64m OUT=bench/encoders (JSON per run)
#   WORKLOADS="mixed zero" WINDOWS=20 bench/compare-encoders.sh     # a subset; the README is left alone
#   TABLE_ONLY=1 bench/compare-encoders.sh          # rebuild the table from the JSON in OUT, run nothing
#
# Byte counts vary little from run to run (the sim's writers run in real time, so epochs hold slightly different
# numbers of writes); times are not figures of this table.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
WINDOWS="${WINDOWS:-20 60}"
MEM="${MEM:-64m}"
OUT="${OUT:-$here/encoders}"
TRACE_DIR="${TRACE_DIR:-$here/traces}"
readme="$repo/diff-encoder/README.md"
all_workloads="uniform zipf scan sparse zero mixed stable"
WORKLOADS="${WORKLOADS:-$all_workloads}"
mkdir -p "$OUT"

sources=()
for w in $WORKLOADS; do sources+=("$w=sim:mem=$MEM,workload=$w"); done
if [[ "$WORKLOADS" == "$all_workloads" ]]; then
    for t in redis postgres; do
        [[ -s "$TRACE_DIR/$t.cpt" ]] && sources+=("$t=trace:file=$TRACE_DIR/$t.cpt")
    done
fi

if [[ -z "${TABLE_ONLY:-}" ]]; then
    for entry in "${sources[@]}"; do
        name="${entry%%=*}" source="${entry#*=}"
        windows="$WINDOWS"
        [[ "$source" == trace:* ]] && windows=all   # a trace is as long as its recording, whatever the window
        for s in $windows; do
            echo "compare-encoders: $name, $s" >&2
            secs="$s"; [[ "$s" == all ]] && secs=600
            "$repo/cpstream" bench --source "$source" --seconds "$secs" --compare-encoders --encoders-only --json \
                2>/dev/null | tail -1 > "$OUT/$name-$s.json"
        done
    done
fi

table() {
    echo "| workload | window | checkpoints | dirty pages | raw MB | floor MB | floor/raw | encoder | payload MB | wire MB | wire B/page | cpstream/xbzrle (wire) | cpstream/floor | floor/xbzrle |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for entry in "${sources[@]}"; do
        name="${entry%%=*}" source="${entry#*=}"
        windows="$WINDOWS"
        [[ "$source" == trace:* ]] && windows=all
        for s in $windows; do
            f="$OUT/$name-$s.json"
            [[ -s "$f" ]] || continue
            jq -r --arg n "$name" --arg s "$s" '
                def mb: (. / 1e6 * 10 | round / 10);
                . as $r | ["xbzrle", "lz4", "cpstream"][] as $e | $r.encoders[$e] as $x
                | "| \($n) | \(if $s == "all" then "whole trace" else "\($s) s" end) | \($r.encoders_checkpoints) | \($r.encoders_dirty_pages) | \($r.encoders_raw_bytes | mb) | \($r.floor_bytes | mb) | \(($r.floor_bytes / $r.encoders_raw_bytes * 1000 | round) / 1000) | \($e) | \($x.payload_bytes | mb) | \($x.wire_bytes | mb) | \($x.wire_bytes_per_dirty_page) | "
                  + (if $e == "cpstream" then "**\($r.cpstream_vs_xbzrle_wire_bytes)** | **\($r.cpstream_vs_floor_bytes)** | \($r.floor_vs_xbzrle_wire_bytes) |" else " | | |" end)' "$f"
        done
    done
}

if [[ "$WORKLOADS" == "$all_workloads" ]]; then
    tmp="$(mktemp)"
    {
        sed -n '1,/<!-- encoder-table:begin -->/p' "$readme"
        echo
        echo "Generated $(date -u +%Y-%m-%d) by \`bench/compare-encoders.sh\` (WINDOWS=\"$WINDOWS\" MEM=$MEM) on $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)."
        echo
        table
        echo
        sed -n '/<!-- encoder-table:end -->/,$p' "$readme"
    } > "$tmp"
    mv "$tmp" "$readme"
    echo "compare-encoders: wrote the table into $readme" >&2
fi
table
