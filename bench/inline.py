#!/usr/bin/env python3
"""Inline zero-loss test: metaprobe against dpdk-testpmd --forward-mode=io, as a tester sees
a bridge.

Three DPDK processes joined by virtual links:

    generator ==link== [port 0   DUT   port 1] ==link== sink

The DUT is metaprobe (every export on, as bench/throughput.py configures it: the three
streams to a UDP collector on 127.0.0.1, HTTP and TLS replies, the DNS text log) and then,
on the same topology, `dpdk-testpmd --forward-mode=io`. The links are `net_memif` (shared
memory rings, the default) or, with --link veth, veth pairs in a network namespace of
their own with `net_af_packet` on every end. The generator replays a realistic capture
(HTTP, TLS, DNS, SIP, FTP, SMTP in plain/VLAN/QinQ/MPLS/PPPoE, 30 % IPv6: shared/tools/
mkpcap.py) from memory (net_pcap infinite_rx) at the rate it is told: `dpdk-testpmd` has
no rate control for virtual devices, so generator and sink are bench/inline_tester.rs
(`cargo build --release --example inline-tester`), a token bucket on the TSC over
metaprobe's DPDK binding.

Loss, RFC 2544 style, as the tester counts it: a trial offers traffic for --seconds,
stops, lets the DUT drain, and compares the frames the generator sent (those the link
refused because the DUT's ring was full count as sent and lost: a NIC drops them at its
full RX ring) with those the sink received. One trial at the generator's full speed gives
the ceiling; if the DUT loses nothing there, that is its result (bounded by the generator,
said so); else a binary search between 0 and the ceiling for the highest rate with zero
loss, to within --resolution of the upper end. Rounds alternate testpmd and metaprobe so
that this shared machine's noise hits both alike; medians are compared. The last line is
`zero-loss ratio metaprobe/testpmd = X`.

With pktgen-dpdk installed (`pktgen` on PATH or PKTGEN=/path/to/pktgen), pktgen is the
tester instead (one process, port 0 sends, port 1 receives, its own rate control and
latency sampler): bench/pktgen/inline.lua runs the same search inside pktgen; latency
percentiles are printed when its sampler gave samples. --generator tester forces ours.

Usage: sudo python3 bench/inline.py [--rounds N] [--seconds S] [--resolution F] [--link memif|veth]
                                    [--generator auto|tester|pktgen] [--[no-]separate]
Needs root (hugepages; namespaces for veth), dpdk-testpmd, ethtool for veth, and cargo:
it runs `cargo build --release --bin metaprobe --example inline-tester` first (without
cargo on PATH, as under sudo, it takes the binaries that are there).
"""

import argparse
import os
import re
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Shared with the throughput bench beside this file.
from throughput import ensure_hugepages, mean_frame_bytes

ROOT = Path(__file__).resolve().parent.parent
METAPROBE = ROOT / "target" / "release" / "metaprobe"
TESTER = ROOT / "target" / "release" / "examples" / "inline-tester"
MKPCAP = ROOT.parent / "shared" / "tools" / "mkpcap.py"
LUA = ROOT / "bench" / "pktgen" / "inline.lua"
NS = "mp-inline"
# veth pairs (--link veth): generator g0 <-> d0 DUT port 0; DUT port 1 d1 <-> s0 sink.
LINKS = (("g0", "d0"), ("d1", "s0"))
# af_packet rings of every port: 4096 frames of 2 KiB (the PMD's default is 512).
AFP = "framecnt=4096,framesz=2048,blocksz=4096"
# memif rings of 16384 slots (log2 14, memif's largest) on both links, 80 ms of traffic at
# 200 kpps: this machine is shared, and a DUT lcore that another process preempts for a
# few ms must not lose for that alone (both DUTs get the same rings). The DUT's side is
# the client, which sets up the shared memory.
MEMIF_RSIZE = 14
DESCRIPTORS = 1024
DRAIN_S = 0.3
# CPUs of this 2-core machine: the DUT's forwarding lcore alone on CPU 1; its main lcore
# (and metaprobe's export thread), the generator and the sink on CPU 0.
DUT_LCORES = "0@0,1@1"
TESTER_LCORES = "0@0,1@0"
# With --separate (the default from 4 CPUs on): generator and sink on CPUs 2 and 3 (on a
# smaller machine both on CPU 0, where they take turns: expect loss that is theirs).
_CPUS = os.cpu_count() or 1
GEN_LCORES = f"0@0,1@{2 if _CPUS >= 4 else 0}"
SINK_LCORES = f"0@0,1@{3 if _CPUS >= 4 else 0}"


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def in_ns(link: str, cmd: list[str]) -> list[str]:
    return ["ip", "netns", "exec", NS, *cmd] if link == "veth" else cmd


def veth_up() -> None:
    veth_down()
    run("ip", "netns", "add", NS)
    run("ip", "-n", NS, "link", "set", "lo", "up")
    for a, b in LINKS:
        run("ip", "-n", NS, "link", "add", "name", a, "type", "veth", "peer", "name", b)
    for a, b in LINKS:
        for dev in (a, b):
            # No frame of the kernel's own on the links, no offloads (frames as a wire has them).
            run("ip", "netns", "exec", NS, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
            run("ip", "netns", "exec", NS, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off",
                "gro", "off")
            run("ip", "-n", NS, "link", "set", dev, "up")


def veth_down() -> None:
    run("ip", "netns", "del", NS, check=False)


def vdevs(link: str, workdir: Path) -> dict[str, list[str]]:
    """The ports of the generator's link, the DUT's two, the sink's."""
    if link == "veth":
        return {"gen": [f"net_af_packet0,iface=g0,{AFP}"], "sink": [f"net_af_packet1,iface=s0,{AFP}"],
                "dut": [f"net_af_packet0,iface=d0,{AFP}", f"net_af_packet1,iface=d1,{AFP}"]}
    sock = lambda name: f"socket={workdir / name}.sock,socket-abstract=no"
    return {"gen": [f"net_memif0,role=server,{sock('gen')}"], "sink": [f"net_memif1,role=server,{sock('sink')}"],
            "dut": [f"net_memif0,role=client,{sock('gen')},rsize={MEMIF_RSIZE}",
                    f"net_memif1,role=client,{sock('sink')},rsize={MEMIF_RSIZE}"]}


def eal(prefix: str, lcores: str, ports: list[str], memory: int = 512) -> list[str]:
    return ["--lcores", lcores, "-m", str(memory), "--huge-unlink", "--no-pci", "--file-prefix", prefix,
            "--log-level=lib.eal:error", *[f"--vdev={v}" for v in ports]]


class Tester:
    """An inline-tester process (gen or sink) driven through its stdin/stdout."""

    def __init__(self, cmd: list[str], log: Path):
        self.log = log
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log.open("w"), text=True, bufsize=1)
        self.pending = b""
        self.expect("ready", 60)

    def expect(self, prefix: str, timeout: float) -> str:
        """The next line of its stdout that starts with `prefix` (read from the raw pipe:
        a buffered reader would hide lines from select)."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                if line.decode(errors="replace").startswith(prefix):
                    return line.decode(errors="replace")
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self.pending += chunk
            elif self.proc.poll() is not None:
                break
        sys.exit(f"inline-tester: no {prefix!r} line ({self.proc.args[:2]}):\n{self.log.read_text()[-3000:]}")

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stats(self) -> dict[str, int]:
        self.send("stats")
        words = self.expect("stats", 10).split()[1:]
        return {k: int(v) for k, v in zip(words[0::2], words[1::2])}

    def quit(self) -> None:
        if self.proc.poll() is None:
            self.send("quit")
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def trial(gen: Tester, sink: Tester, rate_pps: float, seconds: float) -> tuple[float, int, int, int]:
    """Offers `rate_pps` for `seconds`; returns (offered pps, frames offered, frames lost,
    of those lost the frames the DUT's port 0 ring refused)."""
    def both() -> tuple[dict[str, int], dict[str, int]]:
        g = gen.stats()
        return g, (g if sink is gen else sink.stats())

    g0, s0 = both()
    gen.send(f"rate {int(rate_pps)}")
    start = time.monotonic()
    time.sleep(seconds)
    gen.send("rate 0")
    took = time.monotonic() - start
    time.sleep(DRAIN_S)
    g1, s1 = both()
    offered = (g1["sent"] - g0["sent"]) + (g1["refused"] - g0["refused"])
    received = s1["received"] - s0["received"]
    return offered / took, offered, offered - received, g1["refused"] - g0["refused"]


FULL_SPEED = 1e9  # a rate no generator here reaches: the generator's ceiling


def search(name: str, gen: Tester, sink: Tester, seconds: float, resolution: float) -> dict:
    """RFC 2544-style binary search for the highest rate with zero loss."""
    ceiling, offered, lost, refused = trial(gen, sink, FULL_SPEED, seconds)
    print(f"  {name}: full speed: offered {ceiling / 1e3:8.1f} kpps, lost {lost} of {offered} "
          f"({refused} at the DUT's input)", flush=True)
    if lost <= 0:
        return {"rate": ceiling, "bound": "generator", "trials": 1}
    # To within `resolution` of the upper end (relative: the ceiling at full speed counts
    # every frame the DUT refused, so it can be many times the zero-loss rate), at most
    # 16 trials.
    lo, hi, best, trials = 0.0, ceiling, 0.0, 1
    while hi - lo > resolution * hi and trials < 16:
        mid = (lo + hi) / 2
        rate, offered, lost, refused = trial(gen, sink, mid, seconds)
        trials += 1
        ok = lost <= 0
        print(f"  {name}: {mid / 1e3:8.1f} kpps: offered {rate / 1e3:8.1f} kpps, lost {lost} of {offered}"
              f" ({refused} at the DUT's input) {'pass' if ok else 'FAIL'}", flush=True)
        if ok:
            lo, best = mid, max(best, rate)
        else:
            hi = mid
    return {"rate": best, "bound": "dut", "trials": trials}


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)


def wait_for(log: Path, pattern: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, log.read_text(errors="replace"), re.M):
            return
        if proc.poll() is not None:
            sys.exit(f"{proc.args} ended:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    sys.exit(f"timeout waiting for {pattern!r} in {log}:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def dut_command(kind: str, link: str, workdir: Path) -> tuple[list[str], str]:
    ports = vdevs(link, workdir)["dut"]
    if kind == "testpmd":
        # Line-buffered: its "Press enter to exit" must reach the log when printed.
        cmd = ["stdbuf", "-oL", "dpdk-testpmd", *eal("inline-dut", DUT_LCORES, ports, 256), "--", "--forward-mode=io",
               "--nb-cores=1", "--burst=32", f"--rxd={DESCRIPTORS}", f"--txd={DESCRIPTORS}",
               "--total-num-mbufs=16384", "--no-flush-rx"]
        return in_ns(link, cmd), r"^Press enter to exit"
    sink = "127.0.0.1:4739"
    cfg = workdir / "inline.toml"
    cfg.write_text(f'bridges = [[0, 1]]\nlog_dir = "{workdir}/log"\nstats_interval = 0\n'
                   f"rx_descriptors = {DESCRIPTORS}\ntx_descriptors = {DESCRIPTORS}\n"
                   f'ipfix_udp_collectors = "{sink}"\nipfix_meta_udp_collectors = "{sink}"\n'
                   f'ipfix_dns_udp_collectors = "{sink}"\nhttp_parse_reply = 1\nssl_parse_reply = 1\n'
                   f'ajb_save_dns = 1\najb_dns_path = "{workdir}/dns.log"\n')
    cmd = [str(METAPROBE), "run", "-c", str(cfg), "--", *eal("inline-dut", DUT_LCORES, ports, 256)]
    return in_ns(link, cmd), r"^worker 0 on lcore"


def make_traffic(workdir: Path) -> Path:
    out = workdir / "mix.pcap"
    subprocess.run([sys.executable, str(MKPCAP), "-o", str(out), "-q", "--seed", "7", "--scale", "400",
                    "--mix", "http=3,http_split=1,tls=3,tls_split=1,dns=4,dns_tcp=1,sip=1,ftp=1,smtp=1",
                    "--encap", "plain,plain,plain,vlan,qinq,mpls2,pppoe", "--ipv6", "0.3"], check=True)
    return out


def dut_summary(kind: str, log: Path) -> str:
    text = log.read_text(errors="replace")
    if kind != "metaprobe":
        return ""
    keep = ("final port", "final export clickstream", "final export dns", "final worker")
    return "; ".join(l for l in text.splitlines() if l.startswith(keep))


def ipfix_sink(link: str) -> subprocess.Popen:
    """metaprobe's collector: a UDP socket nobody reads (what it cannot hold the kernel
    drops), so the bench measures metaprobe, not a collector."""
    return subprocess.Popen(in_ns(link, [sys.executable, "-c", "import socket,time; "
                                         "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); "
                                         "s.bind(('127.0.0.1',4739)); time.sleep(1e9)"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def our_tester(args: argparse.Namespace, workdir: Path, pcap: Path, frame: float) -> None:
    ports = vdevs(args.link, workdir)
    collector = ipfix_sink(args.link)
    testers: list[Tester] = []
    results: dict[str, list[float]] = {"testpmd": [], "metaprobe": []}
    source = f"net_pcap0,rx_pcap={pcap},infinite_rx=1"
    try:
        if args.separate:
            gen = Tester(in_ns(args.link, [str(TESTER), "gen", "--", *eal("inline-gen", GEN_LCORES,
                                           [source, *ports["gen"]])]), workdir / "generator.log")
            testers.append(gen)
            sink = Tester(in_ns(args.link, [str(TESTER), "sink", "--", *eal("inline-sink", SINK_LCORES,
                                            ports["sink"], 256)]), workdir / "sink.log")
            testers.append(sink)
        else:
            gen = sink = Tester(in_ns(args.link, [str(TESTER), "both", "--", *eal("inline-tester", TESTER_LCORES,
                                                  [source, *ports["gen"], *ports["sink"]])]), workdir / "tester.log")
            testers.append(gen)
        for r in range(1, args.rounds + 1):
            for kind in ("testpmd", "metaprobe"):
                cmd, ready = dut_command(kind, args.link, workdir)
                log = workdir / f"dut-{kind}-{r}.log"
                dut = start(cmd, log)
                try:
                    wait_for(log, ready, dut)
                    time.sleep(1.0)  # memif links connect
                    print(f"round {r} {kind}:", flush=True)
                    res = search(kind, gen, sink, args.seconds, args.resolution)
                finally:
                    stop(dut)
                results[kind].append(res["rate"])
                bound = " (the generator's ceiling: the DUT lost nothing there)" if res["bound"] == "generator" else ""
                print(f"round {r} {kind}: zero-loss rate {res['rate'] / 1e3:.1f} kpps "
                      f"{res['rate'] * frame * 8 / 1e6:.0f} Mbit/s in {res['trials']} trials{bound}", flush=True)
                summary = dut_summary(kind, log)
                if summary:
                    print(f"round {r} {kind}: {summary}", flush=True)
    finally:
        for t in testers:
            t.quit()
        collector.kill()
    report(results, frame, latency=None)


def pktgen_tester(args: argparse.Namespace, workdir: Path, pcap: Path, frame: float, pktgen: str) -> None:
    """pktgen as the tester: port 0 sends (the generator's link), port 1 receives (the
    sink's); bench/pktgen/inline.lua searches and prints `inline-result` lines."""
    ports = vdevs(args.link, workdir)
    results: dict[str, list[float]] = {"testpmd": [], "metaprobe": []}
    latency: dict[str, list[float]] = {"testpmd": [], "metaprobe": []}
    collector = ipfix_sink(args.link)
    try:
        for r in range(1, args.rounds + 1):
            for kind in ("testpmd", "metaprobe"):
                samples = workdir / f"latency-{kind}-{r}.txt"
                params = workdir / "params.lua"
                go = workdir / f"go-{kind}-{r}"
                params.write_text(f"INLINE_SECONDS = {args.seconds}\nINLINE_RESOLUTION = {args.resolution}\n"
                                  f'INLINE_LATENCY_FILE = "{samples}"\nINLINE_GO_FILE = "{go}"\n'
                                  f'dofile("{LUA}")\n')
                # pktgen is started first: it is the memif server of both links.
                pg_log = workdir / f"pktgen-{kind}-{r}.log"
                # pktgen wants a terminal: `script` gives it one (its screen output goes to the log).
                pg_cmd = in_ns(args.link, [pktgen, *eal("inline-pktgen", "0@0,1@0,2@0", ports["gen"] + ports["sink"]),
                                           "--", "-T", "-P", "-m", "[1].0,[2].1", "-s", f"0:{pcap}", "-f", str(params)])
                pg = start(["script", "-qefc", shlex.join(pg_cmd), "/dev/null"], pg_log)
                time.sleep(3)
                cmd, ready = dut_command(kind, args.link, workdir)
                log = workdir / f"dut-{kind}-{r}.log"
                dut = start(cmd, log)
                try:
                    wait_for(log, ready, dut)
                    time.sleep(1.0)
                    go.touch()
                    wait_for(pg_log, r"inline-result ", pg, timeout=1800)
                finally:
                    stop(dut)
                    stop(pg)
                text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "\n", pg_log.read_text(errors="replace"))
                for trial_line in re.findall(r"inline-trial [^\n]*", text):
                    print(f"  {kind}: {trial_line}", flush=True)
                m = re.search(r"^inline-result zero_loss_pps=([\d.]+)", text, re.M)
                results[kind].append(float(m.group(1)))
                print(f"round {r} {kind}: zero-loss rate {float(m.group(1)) / 1e3:.1f} kpps (pktgen)", flush=True)
                if samples.exists():
                    latency[kind].extend(float(v) for v in samples.read_text().split() if re.fullmatch(r"[\d.]+", v))
    finally:
        collector.kill()
    report(results, frame, latency)


def report(results: dict[str, list[float]], frame: float, latency: dict[str, list[float]] | None) -> None:
    med = {k: statistics.median(v) for k, v in results.items()}
    for k in ("testpmd", "metaprobe"):
        print(f"median {k}: zero-loss rate {med[k] / 1e3:.1f} kpps {med[k] * frame * 8 / 1e6:.0f} Mbit/s "
              f"(rounds: {', '.join(f'{v / 1e3:.1f}' for v in results[k])} kpps)")
    if latency and any(len(v) >= 2 for v in latency.values()):
        for k, v in latency.items():
            if len(v) >= 2:
                q = statistics.quantiles(sorted(v), n=100)
                print(f"latency {k}: p50 {q[49] / 1e3:.1f} p90 {q[89] / 1e3:.1f} p99 {q[98] / 1e3:.1f} µs "
                      f"({len(v)} samples of pktgen's sampler at the zero-loss rate)")
    else:
        print("latency: not measured (our tester counts frames only; pktgen's latency sampler gives percentiles)")
    if not med["testpmd"] or not med["metaprobe"]:
        print("no zero-loss rate found for " + " and ".join(k for k in med if not med[k]) +
              ": every rate tried lost frames (a machine this busy cannot give one; see the trial lines)")
    ratio = med["metaprobe"] / med["testpmd"] if med["testpmd"] else float("nan")
    print(f"zero-loss ratio metaprobe/testpmd = {ratio:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0, help="length of one trial")
    ap.add_argument("--resolution", type=float, default=0.02,
                    help="search until the bounds are within this fraction of the upper one")
    ap.add_argument("--link", choices=["auto", "memif", "veth"], default="auto",
                    help="memif with our tester, veth with pktgen (Pktgen 23.06 cannot start memif ports: "
                         "it sets their MTU, which memif refuses)")
    ap.add_argument("--generator", choices=["auto", "tester", "pktgen"], default="auto")
    ap.add_argument("--separate", action=argparse.BooleanOptionalAction, default=(os.cpu_count() or 1) >= 4,
                    help="generator and sink as two processes on CPUs 2 and 3 (default from 4 CPUs on); "
                         "else one tester process polls both links from one lcore")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/inline.py needs root (hugepages, network namespaces)")
    # Builds both (a no-op when they are current); without cargo (sudo's PATH) it takes
    # what is there.
    build = ["cargo", "build", "--release", "-j2", "--bin", "metaprobe", "--example", "inline-tester"]
    if shutil.which("cargo"):
        if subprocess.run(build, cwd=ROOT).returncode != 0:
            sys.exit("the release build failed")
    elif not (METAPROBE.exists() and TESTER.exists()):
        sys.exit(f"no cargo on PATH and {METAPROBE} or {TESTER} missing: run {' '.join(build)}")
    for tool in ("dpdk-testpmd", "stdbuf") + (("ethtool",) if args.link == "veth" else ()):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (scripts/setup.sh installs dpdk-dev, ethtool)")
    pktgen = os.environ.get("PKTGEN") or shutil.which("pktgen") or shutil.which("dpdk-pktgen")
    if args.generator == "pktgen" and not pktgen:
        sys.exit("--generator pktgen: no pktgen on PATH and PKTGEN unset (docs/benchmarks.md says how to build it)")
    use_pktgen = args.generator == "pktgen" or (args.generator == "auto" and bool(pktgen))
    if args.link == "auto":
        args.link = "veth" if use_pktgen else "memif"
    ensure_hugepages(1536)  # 3 GiB: tester 512 MiB, DUT 256 MiB, room for another run beside
    if args.link == "veth":
        veth_up()
    try:
        # Logs of every process stay there (memif sockets too: a short path).
        workdir = ROOT / "out" / "inline"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        if True:
            pcap = make_traffic(workdir)
            frame = mean_frame_bytes(pcap)
            print(f"traffic: {pcap.stat().st_size} bytes of capture, mean frame {frame:.0f} B; link {args.link}; "
                  f"tester {'pktgen ' + pktgen if use_pktgen else 'inline-tester (paced replay, ' + ('generator and sink processes' if args.separate else 'generator and sink on one lcore') + ')'}; "
                  f"trials of {args.seconds:g} s, resolution {args.resolution:.0%}", flush=True)
            if use_pktgen:
                pktgen_tester(args, workdir, pcap, frame, pktgen)
            else:
                our_tester(args, workdir, pcap, frame)
    finally:
        if args.link == "veth":
            veth_down()


if __name__ == "__main__":
    main()
