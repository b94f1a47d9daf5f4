#!/usr/bin/env bash
# The API load benchmark: GET /api/v1/alerts over 100,000 stored alerts (SQLite), concurrent
# clients on loopback (wrk), beside nginx serving the very same JSON bytes from files. Two
# requests are measured: a page (the default, 100 alerts) and the full export (`limit=all`).
#
#   bench/api/run.sh            # ALERTS=100000 DURATION=20s CONNECTIONS=32 THREADS=2
#
# Needs wrk and nginx (Debian packages). Everything listens on 127.0.0.1 and is stopped at the end.
set -euo pipefail

ALERTS=${ALERTS:-100000}
DURATION=${DURATION:-20s}
EXPORT_DURATION=${EXPORT_DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
API_PORT=${API_PORT:-7878}
STATIC_PORT=${STATIC_PORT:-7879}
TOKEN=bench-token-$RANDOM$RANDOM

root=$(cd "$(dirname "$0")/../.." && pwd)
work=${WORK:-$(mktemp -d)}
mkdir -p "$work/www" "$work/nginx"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

for tool in wrk nginx curl; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done

cargo build --release -q -p picket-web --example api_bench --manifest-path "$root/Cargo.toml"
server="$root/target/release/examples/api_bench"
"$server" --db "$work/bench.db" --alerts "$ALERTS" --listen "127.0.0.1:$API_PORT" --token "$TOKEN" \
    2>"$work/server.log" &
pids+=($!)
for _ in $(seq 600); do
    grep -q listening "$work/server.log" && break
    sleep 0.5
done
grep -q listening "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }

api="http://127.0.0.1:$API_PORT"
auth=(-H "Authorization: Bearer $TOKEN")
curl -sf "${auth[@]}" "$api/api/v1/alerts" -o "$work/www/page.json"
curl -sf "${auth[@]}" "$api/api/v1/alerts?limit=all" -o "$work/www/all.json"
count=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$work/www/all.json")
echo "page: $(stat -c %s "$work/www/page.json") bytes; export: $count alerts, $(stat -c %s "$work/www/all.json") bytes"

cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types { application/json json; }
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    server {
        listen 127.0.0.1:$STATIC_PORT;
        root $work/www;
    }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$STATIC_PORT/page.json" -o /dev/null && break
    sleep 0.1
done
cmp <(curl -sf "http://127.0.0.1:$STATIC_PORT/page.json") "$work/www/page.json"

# One wrk run: prints "requests/s p50 p99" from wrk's --latency report.
measure() {
    local out
    out=$(wrk --latency "$@")
    echo "$out" >>"$work/wrk.log"
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print rps, p50, p99}' <<<"$out"
}

printf '%-34s %12s %10s %10s\n' "what" "requests/s" "p50" "p99"
row() { printf '%-34s %12s %10s %10s\n' "$1" $2; }
row "API page (100 alerts)" "$(measure -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "${auth[@]}" "$api/api/v1/alerts")"
row "nginx, same page bytes" "$(measure -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$STATIC_PORT/page.json")"
row "API page at offset 99,900" "$(measure -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "${auth[@]}" "$api/api/v1/alerts?offset=99900")"
# The same depth by the cursor the Link header of the page before names.
deep=$(curl -sf -D - -o /dev/null "${auth[@]}" "$api/api/v1/alerts?offset=99800" |
    sed -n 's/^[Ll]ink: <\([^>]*\)>; rel="next".*/\1/p' | tr -d '\r')
[[ -n $deep ]] || { echo "run.sh: no next page after offset 99,800" >&2; exit 1; }
row "API page after 99,900 (cursor)" "$(measure -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "${auth[@]}" "$api$deep")"
row "API export ($count alerts)" "$(measure -t1 -c2 -d"$EXPORT_DURATION" --timeout 60s "${auth[@]}" "$api/api/v1/alerts?limit=all")"
row "nginx, same export bytes" "$(measure -t1 -c2 -d"$EXPORT_DURATION" --timeout 60s "http://127.0.0.1:$STATIC_PORT/all.json")"
echo "server memory (VmHWM): $(grep VmHWM /proc/${pids[0]}/status | awk '{print $2, $3}')"
echo "wrk output: $work/wrk.log"
