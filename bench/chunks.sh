#!/usr/bin/env bash
# The read-buffer chunk sweep of docs/performance.md: builds examples/echo
# with READ_CHUNK (cheese-api/src/upgrade.rs) at 4, 8 and 16 KiB, then runs
# a 1 MiB echo and 5,000 idle connections against each and against plain
# axum with defaults, 3 rounds with the servers in turn; servers on core 1,
# the client on core 0. The source file is restored afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
src=cheese-api/src/upgrade.rs
out=$(mktemp -d)
cp "$src" "$out/upgrade.rs"
trap 'cp "$out/upgrade.rs" "$src"' EXIT
for k in 4 8 16; do
    sed -i "s/^const READ_CHUNK: usize = .*/const READ_CHUNK: usize = $k * 1024;/" "$src"
    cargo build --release --example echo -q
    cp target/release/examples/echo "$out/echo-$k"
done
cp "$out/upgrade.rs" "$src"
cargo build --release -q -p cheese-bench
client=target/release/cheese-bench

# run NAME BINARY: one 1 MiB echo window and one idle hold, each on a fresh server
run() {
    local name=$1 bin=$2 port pid mb idle
    port=$((9400 + RANDOM % 400))
    CHEESE_PORT=$port taskset -c 1 "$bin" "$port" >/dev/null 2>&1 & pid=$!
    until (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.1; done
    mb=$(taskset -c 0 $client client "ws://127.0.0.1:$port/" --size 1048576 --binary --conns 4 --warmup 1 --secs 3 --pid $pid | tail -1)
    kill $pid; wait $pid 2>/dev/null || true
    CHEESE_PORT=$port taskset -c 1 "$bin" "$port" >/dev/null 2>&1 & pid=$!
    until (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.1; done
    idle=$(taskset -c 0 $client client "ws://127.0.0.1:$port/" --idle 5000 --hold 2 --pid $pid | tail -1)
    kill $pid; wait $pid 2>/dev/null || true
    echo "$name | $mb | $idle"
}
for round in 1 2 3; do
    run "round $round axum defaults" target/release/axum_echo
    for k in 4 8 16; do run "round $round read buffer ${k} KiB" "$out/echo-$k"; done
done
