#!/usr/bin/env bash
# Instructions per packet of a worker's analysis (decode → flow → parsers →
# encoder), counted by callgrind: repeatable on a loaded machine, unlike time.
#
#   bash bench/instructions.sh [CAPTURE…]
#
# Without captures it generates the three traffics: a mix with
# ../shared/tools/mkpcap.py (--flows 2000 --seed 5; HTTP, TLS, DNS, SIP, FTP, SMTP
# in every encapsulation), and the small and realistic traffics that
# bench/throughput.py makes (its --write-traffic). For each
# capture it runs dataplane/examples/analysis_cost.rs under callgrind, with the
# frames and without (start-up alone), and prints
#   CAPTURE: N packets, instructions/packet: X (logins off) Y (logins on) Z (steady) B (bench)
# "logins on": a subscriber map covering every address and RADIUS snooping.
# "steady": the capture replayed as the throughput bench's looping ports do —
# 8 passes minus 6, halved: the flows exist, detection has given up where it
# will, settled flows take the short path (logins off).
# These three export raw metadata for every protocol and feed the capture to
# the subscriber port alone. "bench": the steady state of the throughput bench
# itself — raw metadata off (its configuration leaves ipfix_meta_raw empty) and
# every burst on both ports, as its two ports each replay the whole capture;
# per packet forwarded (8 passes minus 6, divided by the packets they analysed).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
cargo build -q -j2 --release -p metaprobe-dataplane --example analysis_cost
bin=${CARGO_TARGET_DIR:-target}/release/examples/analysis_cost
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
captures=("$@")
if [[ ${#captures[@]} -eq 0 ]]; then
  gen=../shared/tools/mkpcap.py
  [[ -f $gen ]] || { echo "instructions.sh: give captures, or put ../shared/tools beside the repository" >&2; exit 1; }
  python3 "$gen" -q -o "$work/mix.pcap" --flows 2000 --seed 5 --encap plain,vlan,qinq,mpls1,pppoe --ipv6 0.3
  # The small and realistic traffics exactly as the throughput bench makes them.
  python3 bench/throughput.py --traffic small --write-traffic "$work/bench"
  python3 bench/throughput.py --traffic realistic --write-traffic "$work/bench"
  captures=("$work/mix.pcap" "$work/bench/small.pcap" "$work/bench/realistic.pcap")
fi
irs() { # the instructions callgrind counted for one run
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" "$@" >"$work/run.txt" 2>"$work/vg.txt"
  grep -E '^(summary|totals):' "$work/cg.out" | head -1 | awk '{print $2}'
}
steady() { # instructions a packet analysed, 8 passes minus 6, with the given flags
  local six eight analysed
  six=$(irs --frames --passes 6 "$@" "$cap")
  analysed=$(awk '{print $4}' "$work/run.txt")
  eight=$(irs --frames --passes 8 "$@" "$cap")
  analysed=$(( $(awk '{print $4}' "$work/run.txt") - analysed ))
  python3 -c "print(f'{($eight - $six) / $analysed:.0f}')"
}
for cap in "${captures[@]}"; do
  line=""
  for logins in "" --logins; do
    base=$(irs $logins "$cap")
    full=$(irs $logins --frames "$cap")
    packets=$(awk '{print $4}' "$work/run.txt")
    per=$(python3 -c "print(f'{($full - $base) / $packets:.0f}')")
    line+=" $per (logins $([[ -n $logins ]] && echo on || echo off))"
  done
  line+=" $(steady) (steady) $(steady --no-raw --both-ports) (bench)"
  echo "$(basename "$cap"): $packets packets, instructions/packet:$line"
done
