#!/usr/bin/env bash
# Records of every capture of a directory, for comparing two builds:
#   scripts/records-snapshot.sh OUT_DIR [CAPTURE_DIR] [BINARY]
# Each capture (pcap or pcapng) enters port 0 of a net_pcap bridge; every
# stream goes to the bundled collector over TCP; OUT_DIR/<capture>.jsonl holds
# the decoded records without what differs from run to run (TIME_STAMP,
# SESSION_ID, the message's export time and sequence number), sorted, so `diff -r` of two snapshots shows what changed.
set -euo pipefail
out=${1:?usage: records-snapshot.sh OUT_DIR [CAPTURE_DIR] [BINARY]}
captures=${2:-$(dirname "$0")/../../shared/corpus}
bin=${3:-$(dirname "$0")/../target/release/metaprobe}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=47${RANDOM: -2}
for cap in "$captures"/*.pcap "$captures"/*.pcapng; do
  [[ -e $cap ]] || continue
  name=$(basename "$cap")
  cat >"$work/run.toml" <<TOML
bridges = [[0, 1]]
log_dir = "$work/log"
stats_interval = 0
ipfix_tcp_collectors = ["127.0.0.1:$port"]
ipfix_meta_tcp_collectors = ["127.0.0.1:$port"]
ipfix_dns_tcp_collectors = ["127.0.0.1:$port"]
http_parse_reply = 1
ssl_parse_reply = 1
eal_args = ["--no-huge", "--no-pci", "-l", "0-1", "-m", "256", "--file-prefix", "snap$port",
  "--vdev=net_pcap0,rx_pcap=$cap,tx_pcap=$work/p0.pcap",
  "--vdev=net_pcap1,rx_pcap=$work/empty.pcap,tx_pcap=$work/p1.pcap"]
TOML
  # An empty capture for the internet side.
  printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' >"$work/empty.pcap"
  "$bin" collect --tcp "127.0.0.1:$port" --idle 2 >"$work/records.jsonl" 2>/dev/null &
  collector=$!
  sleep 0.3
  "$bin" run -c "$work/run.toml" --idle-exit 1 >"$work/run.log" 2>&1 || { echo "run failed on $name" >&2; cat "$work/run.log" >&2; }
  wait "$collector" || true
  python3 - "$work/records.jsonl" >"$out/$name.jsonl" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    r.pop("export_time", None)
    r.pop("seq", None)
    for k in ("TIME_STAMP", "SESSION_ID"):
        r.pop(k, None)
        if isinstance(r.get("fields"), dict):
            r["fields"].pop(k, None)
    rows.append(json.dumps(r, sort_keys=True))
print("\n".join(sorted(rows)))
PY
  printf '%s: %s records\n' "$name" "$(grep -c . "$out/$name.jsonl" || true)"
done
