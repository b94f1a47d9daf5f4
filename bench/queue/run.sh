#!/usr/bin/env bash
# The scale-out benchmark of issue #12 (see RESULTS.md): a lab target whose IPS drops SYNs above
# 2,000 a second per source address, its full range scanned locally and through NATS JetStream
# by 1, 2 and 4 `picket worker`s, each in a network namespace of its own; then detector
# throughput with 1 and 2 detectors on one event stream. Needs root, nats-server, and for the
# detectors PICKET_TEST_NATS_URL (a running `nats-server -js`); prints Markdown tables.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo test -p picket --test e2e bench_full_range -- --ignored --nocapture --test-threads 1
if [[ -n ${PICKET_TEST_NATS_URL:-} ]]; then
    cargo test -p picket-app --test it bench_detectors -- --ignored --nocapture --test-threads 1
fi
