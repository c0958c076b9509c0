#!/usr/bin/env bash
# The ratios of issue 14, measured: builds the release binary users run, makes the peers
# (nginx, the seed's Flask stack in target/bench-venv), and runs `msa bench` with every
# scenario, three rounds, each case's systems in turn. The report goes to bench/results/
# (<date>.md, .json, .svg). Takes about 20 minutes on 2 cores; not run in CI (CI runs
# .ci/bench-smoke). Extra arguments go to msa bench, such as --scenarios order-read.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
cargo build --locked --release -p msa
exec target/release/msa bench --rounds 3 --python target/bench-venv/bin/python "$@"
