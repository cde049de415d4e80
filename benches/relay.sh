#!/usr/bin/env bash
# Relay throughput with Postfix's own load generator and sink (Debian package postfix):
# smtp-source -> smtp-sink directly (the wire), smtp-source -> hallpass --no-scan -> smtp-sink
# (the relay's own cost), smtp-source -> hallpass (scan on, 2,000-pupil roster) -> smtp-sink.
# 20 KB messages, 10 sessions. Then added latency: one client sends 2,000 messages one after
# another (a 20 KB staff message of plain prose) and times each from MAIL to the final reply,
# to the sink directly and through each hallpass; p50/p99 and p99 added. Also the relay's
# memory idle and with 500 open connections. Prints messages/s, latencies and RSS.
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
start_hp() { # port, extra flags; sets hp
  RUST_LOG=warn ./target/release/hallpass serve --config "$tmp/hallpass.toml" "${@:2}" 2>>"$tmp/serve.log" &
  hp=$!
  for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && break; sleep 0.1; done
}
rss() { awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$hp/status; }
latency() { # label, port
  python3 - "$1" "$2" <<'PY'
import smtplib, sys, time
label, port = sys.argv[1], int(sys.argv[2])
para = ("Dear colleagues, the Year 8 trip to the science museum is confirmed for the spring "
        "term. Coaches leave at half past eight; please collect consent forms by Friday and "
        "hand them to the school office. Thank you for covering lessons on the day.\r\n")
body = para * (20480 // len(para))
msg = ("From: teacher@bench.example.sch.uk\r\nTo: someone@example.com\r\n"
       "Subject: Year 8 trip\r\n\r\n" + body)
s = smtplib.SMTP("127.0.0.1", port)
s.ehlo("bench")
times = []
for _ in range(2000):
    t = time.perf_counter()
    s.sendmail("teacher@bench.example.sch.uk", ["someone@example.com"], msg)
    times.append((time.perf_counter() - t) * 1000)
s.quit()
times.sort()
p = lambda q: times[int(q * (len(times) - 1))]
print(f"{label}: p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms", flush=True)
open(f"/tmp/hallpass-bench-p99-{port}", "w").write(f"{p(0.5)} {p(0.99)}")
PY
}

off=$(port)
sed "s/127.0.0.1:$relay\"]/127.0.0.1:$off\"]/" "$tmp/hallpass.toml" > "$tmp/off.toml"
RUST_LOG=warn ./target/release/hallpass serve --config "$tmp/off.toml" --no-scan 2>>"$tmp/serve.log" &
hpoff=$!
for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$off) 2>/dev/null && break; sleep 0.1; done
rate "hallpass --no-scan (smtp-source -> hallpass -> smtp-sink)" "$off"

start_hp "$relay"
echo "hallpass idle: $(rss)"
rate "hallpass, scan on (smtp-source -> hallpass -> smtp-sink)" "$relay"
echo "hallpass after the run: $(rss)"

latency "latency, wire" "$sink"
latency "latency, hallpass --no-scan" "$off"
latency "latency, hallpass scan on" "$relay"
python3 - "$sink" "$off" "$relay" <<'PY'
import sys
w, o, r = (tuple(map(float, open(f"/tmp/hallpass-bench-p99-{p}").read().split())) for p in sys.argv[1:])
print(f"added by hallpass, scan on: p50 {r[0]-w[0]:.2f} ms, p99 {r[1]-w[1]:.2f} ms "
      f"(no-scan: p50 {o[0]-w[0]:.2f} ms, p99 {o[1]-w[1]:.2f} ms)")
PY
kill "$hpoff"

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
