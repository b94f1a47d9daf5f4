#!/usr/bin/env bash
# The threat-side benchmark (issues #3, #11): `picket detect` end to end over a large generated
# connection log against the real feeds, as Zeek TSV beside grepcidr on the same file, and as
# Zeek JSON and Suricata eve.json beside `jq -c` picking the client field; then memory: the intel
# table's bytes per indicator, `picket detect` with 1,000,000 stored indicators, and the peak
# RSS of a long run against a short one. Every row: wall seconds, rows/s, CPU seconds, peak
# RSS, ratio to the yardstick measured in the same run; the headline ratio (picket against
# grepcidr) is also taken from runs in turn, pair by pair. Reads files only: no traffic leaves
# the machine.
#
#   bench/threat.sh                      # 1,000,000 rows, best of 3, table to bench/threat/RESULTS.md
#   bench/threat.sh --rows 100000 --repeat 1 --long-rows 0 --results /tmp/threat.md
#
# Options: --rows N (1000000), --seed S (1), --repeat R (3: runs of each command, the best
# counting, and pairs in turn; the machine is shared), --long-rows N (10000000: the long run for the RSS check; 0 skips it), --workdir DIR
# (generated logs and databases; ${TMPDIR:-/tmp}/picket-threat-bench), --results FILE
# (bench/threat/RESULTS.md), --data DIR (../shared/data, relative to the repository's root).
set -euo pipefail
cd "$(dirname "$0")/.."

rows=1000000
seed=1
repeat=3
long_rows=10000000
workdir="${TMPDIR:-/tmp}/picket-threat-bench"
results=bench/threat/RESULTS.md
data=../shared/data

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rows) rows="${2:?--rows needs a value}"; shift 2 ;;
        --seed) seed="${2:?--seed needs a value}"; shift 2 ;;
        --repeat) repeat="${2:?--repeat needs a value}"; shift 2 ;;
        --long-rows) long_rows="${2:?--long-rows needs a value}"; shift 2 ;;
        --workdir) workdir="${2:?--workdir needs a value}"; shift 2 ;;
        --results) results="${2:?--results needs a value}"; shift 2 ;;
        --data) data="${2:?--data needs a value}"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench/threat.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
for n in "$rows" "$seed" "$repeat"; do
    [[ "$n" =~ ^[0-9]+$ && "$n" -gt 0 ]] || { echo "bench/threat.sh: $n is not a positive integer" >&2; exit 2; }
done
[[ "$long_rows" =~ ^[0-9]+$ ]] || { echo "bench/threat.sh: --long-rows $long_rows is not a number" >&2; exit 2; }
feeds="$data/feeds"
kev="$data/kev/known_exploited_vulnerabilities.json"
for need in "$feeds" "$data/nvd" "$kev"; do
    [[ -e "$need" ]] || { echo "bench/threat.sh: $need is missing" >&2; exit 1; }
done
for tool in python3 jq; do
    command -v "$tool" > /dev/null || { echo "bench/threat.sh: needs $tool" >&2; exit 1; }
done
[[ -x /usr/bin/time ]] || { echo "bench/threat.sh: needs GNU time (/usr/bin/time, Debian package time)" >&2; exit 1; }

if ! command -v grepcidr > /dev/null; then
    echo "== installing grepcidr (Debian package)"
    apt-get install -y grepcidr > /dev/null || { apt-get update -qq && apt-get install -y grepcidr > /dev/null; }
fi

echo "== building (release)"
cargo build --release -p picket
cargo build --release -p picket-intel --example intel_bench
cargo build --release -p picket-ingest --example bench_conn_log
picket="$PWD/target/release/picket"

mkdir -p "$workdir"
base_db="$workdir/base.db"
load_before=$(uptime)

group() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<< "$1"; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", (a > 0 ? b / a : 0) }'; }

# timed CMD: runs CMD (a bash string, its own output redirected inside) $repeat times under GNU
# time; sets best (wall seconds of the fastest run), best_cpu (user + system of that run) and
# best_kib (its peak RSS). `before`, if set, runs untimed ahead of each repeat.
timed() {
    local cmd="$1" tf i real user sys kib
    tf=$(mktemp)
    best=""
    for ((i = 0; i < repeat; i++)); do
        [[ -n "${before:-}" ]] && eval "$before"
        /usr/bin/time -f '%e %U %S %M' -o "$tf" bash -c "$cmd" || true
        read -r real user sys kib < <(tail -n 1 "$tf")
        if [[ -z "$best" ]] || awk -v a="$real" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$real
            best_cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
            best_kib=$kib
        fi
    done
    rm -f "$tf"
}

# paired CMD_A CMD_B: runs A (after `before`, untimed) then B, in turn, $repeat times, each
# timed to the microsecond; sets pair_ratios (each pair's B wall time over A's, in order of size)
# and pair_median. Run in turn, both commands meet the machine in the same state: the ratio of a
# pair does not move with the load of the moment as the best of separate runs can.
paired() {
    local a="$1" b="$2" i t0 t1 t2
    local ratios=()
    for ((i = 0; i < repeat; i++)); do
        [[ -n "${before:-}" ]] && eval "$before"
        t0=$(date +%s%N)
        bash -c "$a" || true
        t1=$(date +%s%N)
        bash -c "$b" || true
        t2=$(date +%s%N)
        ratios+=("$(awk -v a=$((t1 - t0)) -v b=$((t2 - t1)) 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')")
    done
    pair_ratios=$(printf '%s\n' "${ratios[@]}" | sort -n | tr '\n' ' ' | sed 's/ $//')
    pair_median=$(printf '%s\n' "${ratios[@]}" | sort -n |
        awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
}

generate() { # ROWS FORMAT OUT
    python3 bench/threat/gen_conn_log.py --rows "$1" --seed "$seed" --feeds "$feeds" \
        --inventory bench/threat/inventory.tsv --format "$2" --out "$3" 2> "$workdir/gen.err"
}

echo "== generating $(group "$rows") rows (seed $seed): Zeek TSV, Zeek JSON, Suricata eve.json"
gen_start=$EPOCHREALTIME
log="$workdir/conn-$rows-$seed.log"
zeek_json="$workdir/conn-$rows-$seed.json"
eve="$workdir/eve-$rows-$seed.json"
generate "$rows" zeek "$log"
gen_summary=$(cat "$workdir/gen.err")
generate "$rows" zeek-json "$zeek_json"
generate "$rows" suricata "$eve"
gen_secs=$(awk -v a="$gen_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
size_mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.0f", b / 1048576 }'; }
echo "$gen_summary (in $gen_secs s)"

echo "== fresh picket DB: every feed, NVD + KEV, inventory -> $base_db"
rm -f "$base_db" "$base_db"-*
setup_start=$EPOCHREALTIME
for f in "$feeds"/*; do
    [[ -f "$f" ]] || continue
    name=$(basename "$f")
    "$picket" --db "$base_db" intel add "${name%.*}" "$f"
done
"$picket" --db "$base_db" vuln import "$data"/nvd/*.json "$kev" | tail -n 1
while IFS=$'\t' read -r at vendor product version; do
    [[ -z "$at" || "$at" == \#* ]] && continue
    vendor_arg=()
    [[ "$vendor" != "-" ]] && vendor_arg=(--vendor "$vendor")
    "$picket" --db "$base_db" inventory add "$at" "${vendor_arg[@]}" --product "$product" --version "$version"
done < bench/threat/inventory.tsv
setup_secs=$(awk -v a="$setup_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
# The fixed cost of a run: a log with the header only (open the DB, the intel table, the
# vulnerability DB and the inventory; no event, no alert). First as the first run after the
# feeds changed pays it (every indicator read and indexed, the table then kept in the DB), then
# as every later run does (the kept table read in one row): base.db keeps its table from here
# on, so every run below starts as a user's second run does.
run_db="$workdir/run.db"
head_log="$workdir/header-only.log"
grep '^#' "$log" > "$head_log"
before="rm -f '$run_db' '$run_db'-*; cp '$base_db' '$run_db'"
timed "'$picket' --db '$run_db' detect '$head_log' --input zeek --format ndjson > /dev/null 2> /dev/null"
before=""
cold_startup_secs=$best
cold_startup_cpu=$best_cpu
"$picket" --db "$base_db" detect "$head_log" --input zeek --format ndjson > /dev/null 2>&1
before="rm -f '$run_db' '$run_db'-*; cp '$base_db' '$run_db'"
timed "'$picket' --db '$run_db' detect '$head_log' --input zeek --format ndjson > /dev/null 2> /dev/null"
before=""
startup_secs=$best
startup_cpu=$best_cpu
# The host:port pairs with at least one known vulnerability: where picket looks clients up.
vulnerable=$("$picket" --db "$base_db" inventory -f ndjson | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e["vulnerabilities"]:
        print(e["host"], e["port"], sep="\t")')

# detect LOG INPUT [ARGS...]: best of $repeat runs of `picket detect`, each from a fresh copy of
# the DB (every run stores the same new alerts); sets the timed() results and `summary`.
detect() {
    local file="$1" input="$2"
    shift 2
    before="rm -f '$run_db' '$run_db'-*; cp '$base_db' '$run_db'"
    timed "'$picket' --db '$run_db' detect '$file' --input $input --format ndjson $* > /dev/null 2> '$workdir/detect.err'"
    before=""
    summary=$(tail -n 1 "$workdir/detect.err")
    echo "$summary"
}
listed_of() { sed -n 's/.* \([0-9]*\) from listed clients.*/\1/p' <<< "$1"; }
alerts_of() { sed -n 's/.*; \([0-9,]*\) new alerts\{0,1\},.*/\1/p' <<< "$1" | tr -d ,; }

declare -A secs cpu kib
keep() { secs[$1]=$best; cpu[$1]=$best_cpu; kib[$1]=$best_kib; }

echo "== Zeek TSV: picket detect, grepcidr (best of $repeat each)"
detect "$log" zeek
keep tsv
listed=$(listed_of "$summary")
alerts=$(alerts_of "$summary")
[[ -n "$listed" && -n "$alerts" ]] || { echo "bench/threat.sh: unexpected picket summary: $summary" >&2; exit 1; }
# What the alerts added to the database (the last run's copy keeps them; closing it folded the
# WAL in).
alert_mib=$(awk -v a="$(stat -c %s "$run_db")" -v b="$(stat -c %s "$base_db")" 'BEGIN { printf "%.1f", (a - b) / 1048576 }')
# The same with no client counting as listed (--min-feeds above the number of feeds): every
# line read, screened and looked up, no alert built, stored or printed.
detect "$log" zeek --min-feeds 99
keep tsv_quiet
# On tmpfs: the difference is what SQLite's commits to disk cost.
shm=""
if [[ -d /dev/shm && -w /dev/shm ]]; then
    shm_db="/dev/shm/picket-threat-bench-$$.db"
    before="rm -f '$shm_db' '$shm_db'-*; cp '$base_db' '$shm_db'"
    timed "'$picket' --db '$shm_db' detect '$log' --input zeek --format ndjson > /dev/null 2> /dev/null"
    before=""
    keep tsv_shm
    shm=1
    rm -f "$shm_db" "$shm_db"-*
fi

# The feeds flattened to one list: comments dropped, IPsum's count column cut off. Bogon and
# private entries stay in (grepcidr has no notion of them): FireHOL level1 lists 10.0.0.0/8.
cidr="$workdir/all_feeds.cidr"
grep -hv '^#' "$feeds"/* | cut -f1 | sed '/^[[:space:]]*$/d' > "$cidr"
cidr_lines=$(wc -l < "$cidr")
timed "grepcidr -f '$cidr' '$log' > /dev/null"
keep grepcidr
line_matches=$(grepcidr -c -f "$cidr" "$log" || true)
timed "cut -f3 '$log' | grepcidr -x -f '$cidr' > /dev/null"
keep grepcidr_client
# The headline ratio again, from runs in turn: picket detect (DB on disk), then grepcidr.
before="rm -f '$run_db' '$run_db'-*; cp '$base_db' '$run_db'"
paired "'$picket' --db '$run_db' detect '$log' --input zeek --format ndjson > /dev/null 2> /dev/null" \
    "grepcidr -f '$cidr' '$log' > /dev/null"
before=""
client_matches=$(cut -f3 "$log" | grepcidr -x -c -f "$cidr" || true)
# Check: clients grepcidr finds listed among the rows to vulnerable applications must be
# exactly the events picket counts as "from listed clients".
check=$(awk -F'\t' 'NR == FNR { v[$1 "\t" $2] = 1; next } ($5 "\t" $6) in v { print $3 }' \
    <(printf '%s\n' "$vulnerable") "$log" | grepcidr -x -c -f "$cidr" || true)

echo "== Zeek JSON and Suricata eve.json: picket detect, jq -c (best of $repeat each)"
detect "$zeek_json" zeek-json
keep zeek_json
json_listed=$(listed_of "$summary")
timed "jq -c '.\"id.orig_h\"' '$zeek_json' > /dev/null"
keep jq_zeek
detect "$eve" suricata
keep eve
eve_listed=$(listed_of "$summary")
timed "jq -c .src_ip '$eve' > /dev/null"
keep jq_eve

echo "== memory: intel table, 1,000,000 stored indicators, a long run"
# One synthetic feed of a million entries (990,000 addresses in 11.0.0.0/8, 10,000 /24s in
# 12.0.0.0/8) in a database of its own.
million="$workdir/million.txt"
million_db="$workdir/million.db"
python3 - "$million" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# synthetic: 990,000 addresses in 11.0.0.0/8, 10,000 /24 networks in 12.0.0.0/8\n")
    for i in range(990_000):
        a = 0x0B000000 + i * 16 + 5
        f.write(f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}\n")
    for i in range(10_000):
        a = 0x0C000000 + i * 768
        f.write(f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.0/24\n")
PY
rm -f "$million_db" "$million_db"-*
peak_kib() { # CMD...: the command's peak resident set in KiB (GNU time), output discarded
    /usr/bin/time -f '%M' -o "$workdir/time.out" "$@" > /dev/null 2>&1 || true
    tail -n 1 "$workdir/time.out"
}
add_kib=$(peak_kib "$picket" --db "$million_db" intel add million "$million")
lookup_addr=11.0.0.21
lookup_hits=$("$picket" --db "$million_db" intel lookup "$lookup_addr" --format ndjson | grep -c . || true)
lookup_kib=$(peak_kib "$picket" --db "$million_db" intel lookup "$lookup_addr")
# The first detect builds the table from the store's stream and keeps it; the next reads it.
seconds_of() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
at=$EPOCHREALTIME
table_kib=$(peak_kib "$picket" --db "$million_db" detect "$head_log" --input zeek --format ndjson)
table_secs=$(seconds_of "$at")
at=$EPOCHREALTIME
kept_kib=$(peak_kib "$picket" --db "$million_db" detect "$head_log" --input zeek --format ndjson)
kept_secs=$(seconds_of "$at")
intel_out=$(target/release/examples/intel_bench "$feeds" 1000000)
lookups=$(grep -m1 '^| interval table' <<< "$intel_out" | awk -F'|' '{ gsub(/^ +| +$/, "", $5); print $5 }')
feeds_table=$(grep -m1 ' prefixes (' <<< "$intel_out")
synthetic_table=$(grep ' prefixes (' <<< "$intel_out" | sed -n 2p)
per_indicator() { sed -n 's/.*(\([0-9.]*\) per indicator).*/\1/p' <<< "$1"; }
long_line=""
if [[ "$long_rows" -gt 0 ]]; then
    long_log="$workdir/conn-$long_rows-$seed.log"
    [[ -s "$long_log" ]] || generate "$long_rows" zeek "$long_log"
    rm -f "$run_db" "$run_db"-*
    cp "$base_db" "$run_db"
    long_kib=$(peak_kib "$picket" --db "$run_db" detect "$long_log" --input zeek --format ndjson)
    # The first third of the long log (its header and rows), for a point between the two.
    third=$((long_rows / 3))
    third_log="$workdir/conn-third.log"
    head -n $((third + 8)) "$long_log" > "$third_log"
    rm -f "$run_db" "$run_db"-*
    cp "$base_db" "$run_db"
    third_kib=$(peak_kib "$picket" --db "$run_db" detect "$third_log" --input zeek --format ndjson)
    rm -f "$third_log"
    rm -f "$run_db" "$run_db"-*
    cp "$base_db" "$run_db"
    quiet_kib=$(peak_kib "$picket" --db "$run_db" detect "$long_log" --input zeek --format ndjson --min-feeds 99)
    long_line="- Peak RSS of \`picket detect\`: $(mib "${kib[tsv]}") MiB over $(group "$rows") rows, $(mib "$third_kib") MiB over $(group "$third"), $(mib "$long_kib") MiB over $(group "$long_rows") ($(mib "$quiet_kib") MiB with \`--min-feeds 99\`, no alert): the events are streamed (the read alone stays flat), and what grows with the log is bounded by the alerts: those of the windows still open (two windows of event time, an hour each: about 1M rows here) and those changed since the last store (a second of wall time, so it depends on the speed of the run)."
fi
parse_out=$(target/release/examples/bench_conn_log "$rows" | tail -n 2)
load_after=$(uptime)

row() { # key, tool, what, matches, yardstick key
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$3" "${secs[$1]}" \
        "$(group "$(rate "$rows" "${secs[$1]}")")" "${cpu[$1]}" "$(mib "${kib[$1]}")" "$4" \
        "$(ratio "${secs[$1]}" "${secs[$5]}")"
}
tsv_table=$(
    echo "| tool | what it does | seconds | rows/s | cpu s | peak RSS MiB | matches | speed vs grepcidr |"
    echo "|---|---|---:|---:|---:|---:|---|---:|"
    row tsv "picket detect, DB on disk" "parses and screens every line on both cores (direction, inventory join, lookup in every feed), builds and dedups alerts, NDJSON out, alerts stored in SQLite" \
        "$(group "$listed") listed-client events to vulnerable apps -> $(group "$alerts") alerts" grepcidr
    row tsv_quiet "picket detect --min-feeds 99" "the same reading, screening and lookups; no client is listed by 99 feeds, so no alert is built, stored or printed" "0 alerts" grepcidr
    if [[ -n "$shm" ]]; then
        row tsv_shm "picket detect, DB on tmpfs" "as the first row, SQLite in /dev/shm: no commit waits for the disk" "the same as the first row" grepcidr
    fi
    row grepcidr "grepcidr -f ALL_FEEDS.cidr" "any IPv4/IPv6 anywhere on the line against the flattened list; prints matching lines" \
        "$(group "$line_matches") lines" grepcidr
    row grepcidr_client "cut -f3 \| grepcidr -x -f ALL_FEEDS.cidr" "the client field only (id.orig_h), so matching means what it means to picket" \
        "$(group "$client_matches") rows with a listed client" grepcidr
)
json_table=$(
    echo "| input | tool | seconds | rows/s | cpu s | peak RSS MiB | matches | speed vs jq |"
    echo "|---|---|---:|---:|---:|---:|---|---:|"
    row zeek_json "Zeek JSON ($(size_mib "$zeek_json") MiB)" "picket detect --input zeek-json" "$(group "$json_listed") listed-client events to vulnerable apps" jq_zeek
    row jq_zeek "Zeek JSON" "jq -c '.\"id.orig_h\"'" "every client printed" jq_zeek
    row eve "Suricata eve.json ($(size_mib "$eve") MiB)" "picket detect --input suricata" "$(group "$eve_listed") listed-client events to vulnerable apps" jq_eve
    row jq_eve "Suricata eve.json" "jq -c .src_ip" "every client printed" jq_eve
)
agree() { if [[ "$1" == "$2" ]]; then echo "they agree"; else echo "THEY DISAGREE"; fi; }

report=$(
    cat <<EOF
# Threat-side benchmark results

Written by \`bench/threat.sh --rows $rows --seed $seed --repeat $repeat --long-rows $long_rows\` on $(date -u '+%Y-%m-%d %H:%M UTC').

- Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), Linux $(uname -r);
  shared with other engineers building, so every time in the tables is the best of $repeat runs,
  and the headline ratio is also taken from runs in turn (below the first table).
- Load before: \`$(sed 's/^ *//' <<< "$load_before")\`
- Load after: \`$(sed 's/^ *//' <<< "$load_after")\`
- Logs: the same $(group "$rows") connections as Zeek TSV ($(size_mib "$log") MiB), Zeek JSON and Suricata
  eve.json flow records, generated in $gen_secs s: $gen_summary
- Feeds: every file of $feeds ($(group "$cidr_lines") entries flattened for grepcidr); NVD records
  of $data/nvd and the KEV catalog; inventory from bench/threat/inventory.tsv
  ($(grep -c . <<< "$vulnerable") host:port pairs with known vulnerabilities). DB set up in $setup_secs s.

## Zeek TSV against grepcidr

$tsv_table

Run in turn ($repeat pairs: \`picket detect\` with the DB on disk, then \`grepcidr -f ALL_FEEDS.cidr\`,
each pair from a fresh copy of the DB), grepcidr's time over picket's was **${pair_median}x** (median;
each pair: $pair_ratios).

seconds: wall time, end to end (process start, loading the feeds from the DB, reading the file,
output); cpu s: user + system time of that run; peak RSS: its largest resident set; speed vs
grepcidr: grepcidr's whole-line seconds over this row's (above 1: faster than grepcidr). Of
picket's time, $startup_secs s ($startup_cpu cpu s) is the fixed cost of a run (\`picket detect\` on the
log's header alone: open the DB, read the intel table the DB keeps, build the vulnerability DB
and the inventory). The first run after the feeds change pays $cold_startup_secs s ($cold_startup_cpu cpu s) instead:
it reads every indicator, in one slice per core, builds the table and keeps it in the DB. The
alerts are stored and printed after the lines are
read, in one SQLite transaction of plain one-row inserts (the rows made on a second thread
while the first writes, which makes one batch in seven itself; each JSON body packed with zstd
against a dictionary of alert JSON: the $(group "$alerts") alerts added $alert_mib MiB to the database); while the commit runs on a
thread of its own they are rendered (on two threads), and they are printed, in order, once it
is done: the difference between the first two rows is what $(group "$alerts") alerts cost.

Check: among the rows to vulnerable applications, grepcidr finds $(group "$check") with a listed
client; picket counted $(group "$listed") events from listed clients there: $(agree "$check" "$listed").

## Zeek JSON and Suricata eve.json against jq

$json_table

The three logs hold the same connections: picket counted $(group "$listed") (TSV), $(group "$json_listed") (Zeek JSON)
and $(group "$eve_listed") (Suricata) listed-client events to vulnerable applications: $(if [[ "$listed" == "$json_listed" && "$listed" == "$eve_listed" ]]; then echo "they agree"; else echo "THEY DISAGREE"; fi).

## Memory

| what | peak RSS | |
|---|---:|---|
| \`picket detect\` with 1,000,000 stored indicators, first run (header-only log: the intel table built from the store's stream and kept in the DB, nothing read) | $(mib "$table_kib") MiB | $table_secs s; was 289.6 MiB when the table was built from every indicator loaded at once |
| the same, every later run (the kept table read and decoded) | $(mib "$kept_kib") MiB | $kept_secs s |
| \`picket intel add\` of those 1,000,000 indicators | $(mib "$add_kib") MiB | |
| \`picket intel lookup $lookup_addr\` among them: one indexed query, $lookup_hits hit(s) | $(mib "$lookup_kib") MiB | |

- Intel table (picket-intel \`intel_bench\`), all feeds: $(per_indicator "$feeds_table") bytes per indicator on the heap; $feeds_table.
  A synthetic 1,000,000: $(per_indicator "$synthetic_table") bytes per indicator; $synthetic_table. Lookups: $lookups (all feeds, half hits).
$long_line
- Zeek TSV reader alone (picket-ingest \`bench_conn_log $rows\`, its own generated file):
$(sed 's/^/  /' <<< "$parse_out")

## What differs

- grepcidr matches any address on the line: the destinations are in 10.0.0.0/16 and FireHOL
  level1 lists 10.0.0.0/8 (it includes fullbogons), so the whole-line run matched
  $(group "$line_matches") of $(group "$rows") rows. Picket leaves bogon and private entries out
  of its table and looks up the client only; the client-field run is the comparable match count.
- grepcidr and jq do not know direction, dedup nothing, join no inventory and raise no alert:
  they filter or print. Picket cuts the file into batches of lines that both cores parse (the
  thread that merges them is one of the two: it parses a batch whenever it would wait); each
  event's head (time, addresses, destination port, transport) goes through the detector's
  screen (inbound? an application with known vulnerabilities there? a listed client?), and only
  the events that pass are built whole and counted into alerts, in file order, so alerts, counts
  and checkpoints are those of reading one line at a time (a property test holds it to that).
- A Zeek TSV row is compared with the separator 64 bytes at a time (SSE2) into bits that mark
  the columns; it is read up to its last column the screen needs (time, addresses, destination
  port, transport), the columns after it counted from those bits: a row the screen turns down is
  checked for its column count and those values only, and a row it wants is split and its
  every field checked, without allocating. A JSON record is scanned once on its bytes for the
  fields the screen needs and the full parse checks (every other value checked as strictly as
  serde_json, nothing built), and any record the scan is unsure of goes through the full
  parse.
EOF
)
echo
echo "$report"
mkdir -p "$(dirname "$results")"
echo "$report" > "$results"
echo
echo "written to $results"
