#!/usr/bin/env bash
# Directory load figures: time and peak resident memory of loading a generated roster.
#   bash benches/roster-load.sh [PUPILS]      (default 1000000)
# Builds the release binary, generates a SIMS-style roster of PUPILS synthetic pupils (with
# double-barrelled surnames for variety), and runs `hallpass check-config` over it under
# /usr/bin/time. Target (foundation issue): 1,000,000 pupils in < 3 s using < 500 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cargo build --release --quiet
bin=target/release/hallpass
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" roster generate --pupils "$n" --seed 42 --varied --pupil-domain pupils.big.example.sch.uk > "$work/pupils.csv"
cat > "$work/hallpass.toml" <<TOML
[trust]
name = "Bench trust"
[[school]]
id = "big"
name = "Big School"
domains = ["big.example.sch.uk"]
pupil_domains = ["pupils.big.example.sch.uk"]
roster = "pupils.csv"
dpl = "dpo@big.example.sch.uk"
TOML
echo "roster: $n pupils, $(du -h "$work/pupils.csv" | cut -f1) CSV"
for i in 1 2 3; do
  /usr/bin/time -f "run $i: %e s elapsed, %M KB max resident" "$bin" check-config "$work/hallpass.toml" >/dev/null
done
