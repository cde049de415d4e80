#!/usr/bin/env bash
# Relay throughput with Postfix's own load generator and sink (Debian package postfix):
# smtp-source -> smtp-sink directly (the wire), then smtp-source -> hallpass (scan on,
# 2,000-pupil roster) -> smtp-sink. 20 KB messages, 10 sessions. Also the relay's memory
# idle and with 500 open connections. Prints messages/s and RSS.
#
# Run: bash benches/relay.sh [MESSAGES]   (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
cargo build --release -q
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sink=$(port); relay=$(port)
user=$(id -un); [ "$user" = root ] && user=nobody
smtp-sink -u "$user" -c 127.0.0.1:"$sink" 1000 >/dev/null &
sleep 1
rate() { # label, port
  local start end
  start=$(date +%s.%N)
  smtp-source -s 10 -m "$n" -l 20480 -f bench@bench.example.sch.uk -t someone@example.com 127.0.0.1:"$2"
  end=$(date +%s.%N)
  python3 -c "print(f'$1: $n messages in {($end-$start):.1f} s = {$n/($end-$start):,.0f} msg/s')"
}
rate "wire (smtp-source -> smtp-sink)" "$sink"

./target/release/hallpass roster generate --pupils 2000 --seed 7 --pupil-domain pupils.bench.example.sch.uk > "$tmp/pupils.csv"
cat > "$tmp/hallpass.toml" <<EOF
[trust]
name = "Bench Trust"
[[school]]
id = "bench"
name = "Bench School"
domains = ["bench.example.sch.uk"]
pupil_domains = ["pupils.bench.example.sch.uk"]
roster = "pupils.csv"
dpl = "dpo@bench.example.sch.uk"
[relay]
listen = ["127.0.0.1:$relay"]
next_hop = "smtp://127.0.0.1:$sink"
data_dir = "./var"
max_connections = 1000
max_connections_per_client = 1000
[review]
listen = ""
[metrics]
listen = ""
EOF
RUST_LOG=warn ./target/release/hallpass serve --config "$tmp/hallpass.toml" 2>"$tmp/serve.log" &
hp=$!
for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$relay) 2>/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$hp/status; }
echo "hallpass idle: $(rss)"
rate "hallpass, scan on (smtp-source -> hallpass -> smtp-sink)" "$relay"
echo "hallpass after the run: $(rss)"
python3 - "$relay" "$hp" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"):
            return int(l.split()[1]) / 1024
before = rss()
socks = []
for _ in range(500):
    s = socket.create_connection(("127.0.0.1", port))
    s.recv(512)                     # the greeting: the session is live
    s.sendall(b"EHLO bench\r\n"); s.recv(4096)
    socks.append(s)
time.sleep(1)
after = rss()
print(f"hallpass with 500 open connections: {after:.1f} MB ({(after - before) * 1024 / 500:.0f} KB per idle connection)")
PY
