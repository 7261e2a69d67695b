#!/usr/bin/env bash
# The whole benchmark in one command: builds cheese-api's echo example and
# the bench's servers (axum echoes, the fan-out servers) in release mode,
# installs Bun from npm the first time (bench/bun/ holds its two scripts),
# runs every scenario on every server and writes
# docs/performance/{results.md,chart.svg}. Options go through, e.g.
# `bench/run.sh --quick` or `bench/run.sh --rounds 3`.
set -euo pipefail
cd "$(dirname "$0")/.."
# 5,000 idle connections need more than the usual 1,024 open files (the
# harness also raises its soft limit to the hard one by itself).
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec cargo run --release -p cheese-bench -- all "$@"
