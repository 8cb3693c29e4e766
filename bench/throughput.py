#!/usr/bin/env python3
"""Throughput of metaprobe against dpdk-testpmd --forward-mode=io, side by side.

Both forward between two net_pcap ports that replay one capture from memory
(infinite_rx=1) and drop on transmit (no tx file), with the same lcores
(main 0, one forwarding lcore 1), burst 32, hugepages. net_pcap replays real
packets, so metaprobe parses what it would parse in the field; its per-packet
copy from the preloaded buffer costs both contenders the same (net_null would
be cheaper but carries no real packets; net_ring needs seeding and carries
whatever was seeded). Runs alternate A (testpmd) and B (metaprobe) so that
the noise of this shared machine hits both alike; the medians and their ratio
are printed, the ratio last.

Usage: bench/throughput.py [--rounds N] [--seconds S] [--traffic mix|small|realistic|all]
                           [--workers N] [--packets N] [--against OLD_BINARY]

Traffics: mix (handshakes only, mean frame 95 B), small (60-byte UDP frames),
realistic (long flows in an IMIX-like size mix, a sixth handshakes and DNS;
bench/gen_realistic.py); all runs the three.
--workers N (scaling): each capture is split in N files by a symmetric hash of its flows'
addresses and ports, and both ports replay file q on RX queue q (net_pcap with N rx_pcap
files), so both directions of a flow meet on one queue index, as symmetric RSS makes
them do on a NIC; testpmd forwards with N cores and N queues, metaprobe with N workers
(queues_per_port = N). Worker lcores take CPUs 1..N; when the machine has only N CPUs,
the first worker shares CPU 0 with the main lcore (both contenders alike).
--packets N (diagnosis): replay only the first N packets of each capture. net_pcap copies
every frame from the preloaded capture; whether those copies hit the cache depends on the
capture's size and on what else the forwarding core touches (docs/benchmarks.md, "What the
ports' copy costs"), and a shorter capture shows it.
--against OLD_BINARY (a change measured): A is that metaprobe build instead of testpmd, B the
one of --metaprobe, on the same configuration; the order of A and B swaps every round, each
round prints both, and the last lines are `median KIND: old X Mpps, new Y Mpps, ratio Z;
new faster in K of N rounds` and `ratio new/old = Z`. Run many short rounds
(--rounds 10 --seconds 5): on a shared machine single rounds move by a third.
Needs root (hugepages), the shipped build (bash scripts/build-release.sh: target/dist/metaprobe,
profile-guided; --metaprobe for another), dpdk-testpmd.
"""
import argparse
import os
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METAPROBE = ROOT / "target" / "dist" / "metaprobe"  # scripts/build-release.sh: what ships
MKPCAP = ROOT.parent / "shared" / "tools" / "mkpcap.py"
WARMUP_S = 2
# net_pcap's infinite_rx preloads the whole capture into mbufs of the port's pool
# for good, so the pools must hold both ports' copies besides the rings: captures
# stay near 10 000 packets, rings are 4096 deep, pools 65 535 mbufs on both sides (one
# queue per port; pool_mbufs for more).
DESCRIPTORS = 4096
MEMPOOL_CACHE = 256  # src/run.rs MEMPOOL_CACHE
BURST = 32


def ensure_hugepages(pages: int = 512) -> None:
    nr = Path("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
    if int(nr.read_text()) < pages:
        nr.write_text(str(pages))
    if subprocess.run(["mountpoint", "-q", "/dev/hugepages"]).returncode != 0:
        os.makedirs("/dev/hugepages", exist_ok=True)
        subprocess.run(["mount", "-t", "hugetlbfs", "nodev", "/dev/hugepages"], check=True)


def pcap_records(data: bytes):
    """The records (16-octet header and frame) of a little-endian pcap, as the
    generators write them."""
    off = 24
    while off + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, off + 8)[0]
        yield data[off:off + 16 + caplen]
        off += 16 + caplen


def mean_frame_bytes(pcap: Path) -> float:
    sizes = [len(r) - 16 for r in pcap_records(pcap.read_bytes())]
    return sum(sizes) / max(len(sizes), 1)


MIX_ARGS = ["--seed", "7", "--mix", "http=3,http_split=1,tls=3,tls_split=1,dns=4,dns_tcp=1,sip=1,ftp=1,smtp=1",
            "--encap", "plain,plain,plain,vlan,qinq,mpls2,pppoe", "--ipv6", "0.3"]
QUIC_INITIAL = ROOT / "dataplane" / "tests" / "fixtures" / "quic_v1_ipv6_gstatic_1initial.pcap"
TRAFFICS = ["mix", "small", "realistic"]


def make_traffic(kind: str, workdir: Path) -> Path:
    out = workdir / f"{kind}.pcap"
    if kind == "small":
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_small_frames.py"), str(out), "4096"], check=True)
    elif kind == "mix":
        # Handshakes and small messages: HTTP, TLS (some ClientHellos split), DNS over
        # UDP/TCP, SIP, FTP, SMTP, inside plain/VLAN/QinQ/MPLS/PPPoE, 30 % IPv6, 64 flows
        # interleaved.
        subprocess.run([sys.executable, str(MKPCAP), "-o", str(out), "-q", "--scale", "1000", *MIX_ARGS],
                       check=True)
    else:
        # Long flows (bulk HTTP and TLS, QUIC) in an IMIX-like 7:4:1 of sizes, with a sixth
        # of the packets from the handshake mix: bench/gen_realistic.py says the shares.
        mix = workdir / "realistic-mix.pcap"
        subprocess.run([sys.executable, str(MKPCAP), "-o", str(mix), "-q", "--scale", "200", *MIX_ARGS],
                       check=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_realistic.py"), str(out), str(mix),
                        str(QUIC_INITIAL), "--packets", "12000"], check=True)
    return out


def pool_mbufs(queues: int) -> int:
    """The mbufs of both contenders' pools: metaprobe's own rule (plan::mempool_size),
    given to testpmd too: twice every descriptor of both ports, a burst and a mempool
    cache per lcore (the main one and a worker per queue), rounded up to 2^k - 1."""
    lcores = queues + 1
    needed = 2 * 2 * queues * (2 * DESCRIPTORS) + lcores * (BURST + MEMPOOL_CACHE)
    return (1 << needed.bit_length()) - 1


def flow_shard(frame: bytes, shards: int) -> int:
    """The shard of a frame: a hash of its IP addresses and TCP/UDP ports, the same for
    both directions, under VLAN/QinQ, MPLS and PPPoE; frames without IP go to shard 0."""
    off, etype = 14, int.from_bytes(frame[12:14], "big")
    while etype in (0x8100, 0x88A8, 0x9100) and len(frame) >= off + 4:
        etype, off = int.from_bytes(frame[off + 2:off + 4], "big"), off + 4
    if etype in (0x8847, 0x8848):
        while len(frame) >= off + 4 and not frame[off + 2] & 1:
            off += 4
        off += 4
        etype = {4: 0x0800, 6: 0x86DD}.get(frame[off] >> 4 if len(frame) > off else 0, 0)
    elif etype == 0x8864 and len(frame) >= off + 8:
        etype = {0x0021: 0x0800, 0x0057: 0x86DD}.get(int.from_bytes(frame[off + 6:off + 8], "big"), 0)
        off += 8
    if etype == 0x0800 and len(frame) >= off + 20:
        proto, src, dst = frame[off + 9], frame[off + 12:off + 16], frame[off + 16:off + 20]
        fragment = int.from_bytes(frame[off + 6:off + 8], "big") & 0x3FFF
        l4 = off + (frame[off] & 0x0F) * 4 if not fragment else None
    elif etype == 0x86DD and len(frame) >= off + 40:
        proto, src, dst, l4 = frame[off + 6], frame[off + 8:off + 24], frame[off + 24:off + 40], off + 40
    else:
        return 0
    ends = [src, dst]
    if proto in (6, 17) and l4 is not None and len(frame) >= l4 + 4:
        ends = [src + frame[l4:l4 + 2], dst + frame[l4 + 2:l4 + 4]]
    return zlib.crc32(b"".join(sorted(ends)) + bytes([proto])) % shards


def first_packets(pcap: Path, packets: int) -> Path:
    """The first `packets` records of `pcap`, in KIND.firstN.pcap."""
    data = pcap.read_bytes()
    out = bytearray(data[:24])
    for _, record in zip(range(packets), pcap_records(data)):
        out += record
    path = pcap.with_suffix(f".first{packets}.pcap")
    path.write_bytes(out)
    return path


def split_by_flow(pcap: Path, shards: int) -> list[Path]:
    """`pcap` in `shards` files (KIND.qN.pcap) by flow_shard; one shard: the file itself."""
    if shards == 1:
        return [pcap]
    data = pcap.read_bytes()
    outs = [bytearray(data[:24]) for _ in range(shards)]
    for record in pcap_records(data):
        outs[flow_shard(record[16:], shards)] += record
    paths = [pcap.with_suffix(f".q{q}.pcap") for q in range(shards)]
    for path, out in zip(paths, outs):
        path.write_bytes(out)
    return paths


def lcore_args(workers: int) -> list[str]:
    """Main lcore 0 on CPU 0, worker lcores on CPUs 1..N (the first on CPU 0 when only N)."""
    cpus = os.cpu_count() or 1
    if workers > cpus:
        sys.exit(f"--workers {workers}: this machine has {cpus} CPUs")
    shift = max(0, workers + 1 - cpus)
    return ["--lcores", ",".join(f"{i}@{max(0, i - shift)}" for i in range(workers + 1))]


def eal_args(prefix: str, shards: list[Path]) -> list[str]:
    rx = ",".join(f"rx_pcap={p}" for p in shards)
    return [*lcore_args(len(shards)), "-m", "512", "--huge-unlink", "--no-pci", "--file-prefix", prefix,
            "--log-level=lib.eal:error",
            f"--vdev=net_pcap0,{rx},infinite_rx=1",
            f"--vdev=net_pcap1,{rx},infinite_rx=1"]


def run_testpmd(shards: list[Path], seconds: int) -> list[float]:
    """Forwarded packets per second (both ports' Tx-pps summed), one value a second."""
    script = f"sleep {WARMUP_S}\n" + "".join("show port stats all\nsleep 1\n" for _ in range(seconds)) + "echo quit\n"
    feeder = subprocess.Popen(["bash", "-c", script.replace("show port stats all", "echo 'show port stats all'")],
                              stdout=subprocess.PIPE)
    out = subprocess.run(
        ["dpdk-testpmd", *eal_args("bench-testpmd", shards), "--", "-i", "--forward-mode=io",
         f"--nb-cores={len(shards)}", f"--rxq={len(shards)}", f"--txq={len(shards)}",
         "--burst=32", f"--rxd={DESCRIPTORS}", f"--txd={DESCRIPTORS}", f"--total-num-mbufs={pool_mbufs(len(shards))}",
         "--no-flush-rx", "--auto-start"],
        stdin=feeder.stdout, capture_output=True, text=True, timeout=seconds + 60,
    ).stdout
    feeder.wait()
    tx = [int(v) for v in re.findall(r"Tx-pps:\s+(\d+)", out)]
    samples = [a + b for a, b in zip(tx[0::2], tx[1::2])]
    if len(samples) < 2:
        sys.exit(f"dpdk-testpmd gave no statistics:\n{out}")
    return samples[1:]


def run_metaprobe(binary: Path, shards: list[Path], seconds: int, workdir: Path, sink: str) -> tuple[list[float], dict]:
    """Forwarded packets per second from metaprobe's period lines, and its memory.
    Every export is on: the three streams to a UDP collector on 127.0.0.1 (`sink`),
    HTTP and TLS replies, the DNS text log."""
    cfg = workdir / "bench.toml"
    cfg.write_text(f'bridges = [[0, 1]]\nlog_dir = "{workdir}/log"\nstats_interval = 1\n'
                   f"rx_descriptors = {DESCRIPTORS}\ntx_descriptors = {DESCRIPTORS}\n"
                   f"queues_per_port = {len(shards)}\n"
                   f'ipfix_udp_collectors = "{sink}"\nipfix_meta_udp_collectors = "{sink}"\n'
                   f'ipfix_dns_udp_collectors = "{sink}"\nhttp_parse_reply = 1\nssl_parse_reply = 1\n'
                   f'ajb_save_dns = 1\najb_dns_path = "{workdir}/dns.log"\n')
    proc = subprocess.Popen([str(binary), "run", "-c", str(cfg), "--", *eal_args("bench-metaprobe", shards)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(WARMUP_S)
    rss_start = vm_rss_kib(proc.pid)
    time.sleep(seconds)
    rss_end = vm_rss_kib(proc.pid)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        sys.exit(f"metaprobe failed ({proc.returncode}):\n{out}\n{err}")
    pool = re.search(r"mbuf pool: (\d+) mbufs", out)
    want = pool_mbufs(len(shards))
    assert pool and int(pool.group(1)) == want, f"metaprobe's pool is not {want} mbufs: {out}"
    samples = []
    for line in out.splitlines():
        m = re.match(r"stats ([\d.]+)s", line)
        if m:
            tx = sum(int(v) for v in re.findall(r"tx (\d+) \(", line))
            samples.append(tx / float(m.group(1)))
    cycles = re.findall(r"final worker \d+ \(lcore \d+\): .* cycles/pkt ([\d.]+)", out)
    stages = re.search(r"final stages: (.*) cycles/pkt", out)
    drops = re.findall(r"final port \d+ .* tx-dropped (\d+) rx-missed (\d+) rx-nombuf (\d+)", out)
    exported = sum(int(v) for v in re.findall(r"final export \w+: produced \d+ exported (\d+)", out))
    export_drops = sum(int(v) for v in re.findall(r"final export \w+: .* dropped (\d+)", out))
    return samples[WARMUP_S:], {"rss_start_kib": rss_start, "rss_end_kib": rss_end,
                                "cycles_per_pkt": cycles, "drops": drops,
                                "stages": stages.group(1) if stages else "",
                                "records_per_s": exported / (seconds + WARMUP_S),
                                "export_drops": export_drops}


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--traffic", choices=[*TRAFFICS, "all"], default="all")
    ap.add_argument("--workers", type=int, default=1,
                    help="forwarding cores of both contenders, one queue each (default 1)")
    ap.add_argument("--packets", type=int, metavar="N",
                    help="replay only the first N packets of each capture (diagnosis of the ports' copy)")
    ap.add_argument("--metaprobe", type=Path, default=METAPROBE,
                    help="the binary to measure (default: the release build), e.g. an older build")
    ap.add_argument("--against", type=Path, metavar="OLD_BINARY",
                    help="measure --metaprobe against this other metaprobe build instead of testpmd")
    ap.add_argument("--write-traffic", type=Path, metavar="DIR",
                    help="only write the captures of --traffic into DIR (KIND.pcap) and exit")
    args = ap.parse_args()
    if args.packets is not None and args.packets < 1:
        ap.error(f"--packets {args.packets}: give at least 1 packet")
    if args.packets is not None and args.write_traffic:
        ap.error("--packets cuts the captures of a run; --write-traffic writes them whole")
    kinds = TRAFFICS if args.traffic == "all" else [args.traffic]
    if args.write_traffic:
        args.write_traffic.mkdir(parents=True, exist_ok=True)
        for kind in kinds:
            make_traffic(kind, args.write_traffic)
        return
    for binary in (args.metaprobe, args.against):
        if binary is not None and not binary.exists():
            sys.exit(f"{binary} missing: run bash scripts/build-release.sh first (or give --metaprobe)")
    ensure_hugepages()
    # The collector: a socket nobody reads (what it cannot hold the kernel drops),
    # so the bench measures metaprobe, not a collector.
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    sink = "127.0.0.1:%d" % collector.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="metaprobe-bench-") as tmp:
        workdir = Path(tmp)
        ratios = []
        for kind in kinds:
            pcap = make_traffic(kind, workdir)
            if args.packets:
                pcap = first_packets(pcap, args.packets)
            size = mean_frame_bytes(pcap)
            shards = split_by_flow(pcap, args.workers)
            print(f"traffic {kind}: {pcap.stat().st_size} bytes of capture, mean frame {size:.0f} B", flush=True)
            if args.workers > 1:
                print(f"workers {args.workers}: queue files of {[p.stat().st_size for p in shards]} bytes", flush=True)
            a_all, b_all, records = [], [], []

            def metaprobe(r: int, binary: Path, label: str) -> float:
                samples, info = run_metaprobe(binary, shards, args.seconds, workdir, sink)
                print(f"round {r} {label}: cycles/pkt {info['cycles_per_pkt']} ({info['stages']}), drops (tx-dropped, "
                      f"rx-missed, rx-nombuf) per port {info['drops']}, records/s exported {info['records_per_s']:.0f} "
                      f"(export drops {info['export_drops']}), VmRSS {info['rss_start_kib']} -> "
                      f"{info['rss_end_kib']} KiB", flush=True)
                records.append(info["records_per_s"])
                return statistics.median(samples)

            for r in range(1, args.rounds + 1):
                if args.against is None:
                    a = statistics.median(run_testpmd(shards, args.seconds))
                    b = metaprobe(r, args.metaprobe, "metaprobe")
                elif r % 2:
                    a = metaprobe(r, args.against, "A old")
                    b = metaprobe(r, args.metaprobe, "B new")
                else:
                    b = metaprobe(r, args.metaprobe, "B new")
                    a = metaprobe(r, args.against, "A old")
                a_all.append(a)
                b_all.append(b)
                names = ("A testpmd  ", "B metaprobe") if args.against is None else ("A old", "B new")
                for name, pps in zip(names, (a, b)):
                    print(f"round {r} {name} {kind}: {pps / 1e6:7.2f} Mpps {pps * size * 8 / 1e9:6.2f} Gbit/s", flush=True)
            a_med, b_med = statistics.median(a_all), statistics.median(b_all)
            ratios.append(b_med / a_med)
            if args.against is None:
                print(f"median {kind}: testpmd {a_med / 1e6:.2f} Mpps, metaprobe {b_med / 1e6:.2f} Mpps, "
                      f"ratio {b_med / a_med:.2f}; records/s exported {statistics.median(records):.0f}", flush=True)
            else:
                wins = sum(b > a for a, b in zip(a_all, b_all))
                print(f"median {kind}: old {a_med / 1e6:.2f} Mpps, new {b_med / 1e6:.2f} Mpps, ratio {b_med / a_med:.2f}; "
                      f"new faster in {wins} of {args.rounds} rounds", flush=True)
        print(f"ratio {'metaprobe/testpmd' if args.against is None else 'new/old'} = {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
