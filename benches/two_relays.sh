#!/usr/bin/env bash
# Holds per second through one relay on SQLite (the embedded store, for comparison), one
# relay on PostgreSQL and two relays on one PostgreSQL: eight
# senders (Python smtplib) send the sample class list (held: it names a class of pupils) to
# one node, then round-robin to two nodes sharing one database. Every message must be
# answered 250 (held, sealed and committed in PostgreSQL before the reply). Prints messages,
# seconds and holds/s for each layout. Both nodes run on this machine, so with 2 cores they
# share the CPUs with PostgreSQL and the load generator: the figure says what a second node
# costs the database, not what a second machine adds.
#
# Run: BENCH_POSTGRES="host=127.0.0.1 user=hallpass password=hallpass dbname=hallpass_test" \
#        bash benches/two_relays.sh [MESSAGES]   (default 2000)
# BENCH_PG_CONNECTIONS sets each relay's [quarantine] postgres_connections (default 4).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
url=${BENCH_POSTGRES:?set BENCH_POSTGRES to a libpq connection string}
conns=${BENCH_PG_CONNECTIONS:-4} # [quarantine] postgres_connections per relay
cargo build --release -q
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sink=$(port)
user=$(id -un); [ "$user" = root ] && user=nobody
smtp-sink -u "$user" -c 127.0.0.1:"$sink" 1000 >/dev/null &

samples=$(pwd)/samples
node() { # name, port, schema (empty: the embedded SQLite store) -> a config in $tmp/name
  mkdir -p "$tmp/$1"
  local pg="s|^\[quarantine\]|[quarantine]\nbackend = \"postgres\"\npostgres_connections = $conns\npostgres_url = \"$url options='-c search_path=$3'\"|"
  [ -n "$3" ] || pg="s|^x^||"
  sed -e "s|roster = \"|roster = \"$samples/|; s|staff = \"|staff = \"$samples/|" \
      -e "s|listen = \[\"127.0.0.1:10025\"\]|listen = [\"127.0.0.1:$2\"]|" \
      -e "s|listen = \"127.0.0.1:8025\"|listen = \"\"|; s|listen = \"127.0.0.1:9325\"|listen = \"\"|" \
      -e "s|next_hop = \"maildir:./var/outbox\"|next_hop = \"smtp://127.0.0.1:$sink\"|" \
      -e "$pg" \
      -e "s|digest_time = \"07:30\"|digest_time = \"\"|" \
      "$samples/hallpass.toml" > "$tmp/$1/hallpass.toml"
}
ready() { # port
  for _ in $(seq 600); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "relay on $1 not ready" >&2; exit 1
}
load() { # label, ports...
  local label=$1; shift
  python3 - "$n" "$label" "$@" <<'PY'
import smtplib, sys, time
from concurrent.futures import ThreadPoolExecutor
n, label, ports = int(sys.argv[1]), sys.argv[2], [int(p) for p in sys.argv[3:]]
raw = open("samples/messages/class-list-csv-to-partner.eml", "rb").read()
def worker(k):
    ok = 0
    conns = {p: smtplib.SMTP("127.0.0.1", p, timeout=120) for p in ports}
    for i in range(k, n, 8):
        c = conns[ports[i % len(ports)]]
        c.sendmail("luke.rich0@beaulieupark.example.sch.uk", ["mash@essex.gov.uk"], raw)
        ok += 1
    for c in conns.values():
        c.quit()
    return ok
start = time.time()
with ThreadPoolExecutor(8) as ex:
    done = sum(ex.map(worker, range(8)))
took = time.time() - start
print(f"{label}: {done} held in {took:.1f} s = {done / took:,.0f} holds/s")
PY
}
schema() { psql -q "$url" -c "DROP SCHEMA IF EXISTS $1 CASCADE; CREATE SCHEMA $1" >/dev/null 2>&1; }

one=$(port); a=$(port); b=$(port); lite=$(port)
node lite "$lite" ""
RUST_LOG=warn ./target/release/hallpass serve --config "$tmp/lite/hallpass.toml" 2>>"$tmp/serve.log" &
ready "$lite"
load "one relay, SQLite (for comparison)" "$lite"
kill %2; wait %2 2>/dev/null || true

schema bench_one_$$
node one "$one" bench_one_$$
RUST_LOG=warn ./target/release/hallpass serve --config "$tmp/one/hallpass.toml" 2>>"$tmp/serve.log" &
ready "$one"
load "one relay" "$one"
echo "  items in PostgreSQL: $(psql -tA "$url" -c "SELECT count(*) FROM bench_one_$$.items")"
kill %2; wait %2 2>/dev/null || true

schema bench_two_$$
node a "$a" bench_two_$$
node b "$b" bench_two_$$
RUST_LOG=warn ./target/release/hallpass serve --config "$tmp/a/hallpass.toml" 2>>"$tmp/serve.log" &
ready "$a"
mkdir -p "$tmp/b/var"
cp -p "$tmp/a/var/quarantine.key" "$tmp/a/var/feedback.key" "$tmp/b/var/"
RUST_LOG=warn ./target/release/hallpass serve --config "$tmp/b/hallpass.toml" 2>>"$tmp/serve.log" &
ready "$b"
load "two relays, one PostgreSQL" "$a" "$b"
echo "  items in PostgreSQL: $(psql -tA "$url" -c "SELECT count(*) FROM bench_two_$$.items")"
psql -q "$url" -c "DROP SCHEMA bench_one_$$ CASCADE; DROP SCHEMA bench_two_$$ CASCADE" >/dev/null 2>&1
