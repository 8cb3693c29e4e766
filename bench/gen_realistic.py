#!/usr/bin/env python3
"""Writes a pcap of "realistic" link traffic for bench/throughput.py: most packets
belong to long established flows whose metadata a probe extracts once, a
minority are handshakes and DNS. Deterministic for a given --seed.

Per 12 packets, about (frame sizes on the wire without FCS):
  1 x 1514  bulk downloads: HTTP response bodies (port 80) and TLS application
            data (443), server to client
  4 x  590  TLS application data of interactive/streaming flows (2) and QUIC
            1-RTT short-header packets (2), server to client
  5 x   64  the clients' TCP ACKs of those segments (3) and QUIC short-header
            acknowledgements (2)
  2 x  ~95  handshakes and small messages: the frames of MIX_PCAP (mkpcap.py's
            HTTP, TLS, DNS over UDP and TCP, SIP, FTP, SMTP), in their order
That is the IMIX-like 7:4:1 of small, middle and full-size frames. Every TCP
bulk flow starts with its handshake, request and reply head (so the probe makes
its HTTP or TLS records once), every QUIC flow with a real Initial (taken from
QUIC_PCAP, the first client Initial of a capture; its keys depend only on the
connection id, so other addresses keep it decryptable).

Usage: gen_realistic.py OUT MIX_PCAP QUIC_PCAP [--packets N] [--seed S]
"""
import argparse
import random
import struct

# Payload octets of a full-size IPv4 TCP segment in a 1514-octet frame, and of
# the middle-size frames (590 octets on the wire).
MSS = 1460
MIDDLE_TCP = 590 - 14 - 20 - 20
MIDDLE_UDP = 590 - 14 - 20 - 8
SMALL_QUIC = 60 - 14 - 20 - 8
ACK, PSH_ACK, SYN, SYN_ACK = 0x10, 0x18, 0x02, 0x12


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src: bytes, dst: bytes, proto: int, l4: bytes) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, src, dst)
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:] + l4


def l4_checksum(src: bytes, dst: bytes, proto: int, seg: bytes) -> int:
    return checksum(src + dst + struct.pack("!BBH", 0, proto, len(seg)) + seg)


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"") -> bytes:
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0) + payload
    c = l4_checksum(src, dst, 6, seg)
    return ipv4(src, dst, 6, seg[:16] + struct.pack("!H", c) + seg[18:])


def udp(src, dst, sport, dport, payload) -> bytes:
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = l4_checksum(src, dst, 17, seg) or 0xFFFF
    return ipv4(src, dst, 17, seg[:6] + struct.pack("!H", c) + seg[8:])


def ether(ip: bytes, to_server: bool) -> bytes:
    client, server = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
    dst, src = (server, client) if to_server else (client, server)
    return (dst + src + b"\x08\x00" + ip).ljust(60, b"\0")


def client_hello(sni: bytes) -> bytes:
    name = struct.pack("!BH", 0, len(sni)) + sni
    ext = struct.pack("!HHH", 0, len(name) + 2, len(name)) + name
    ext += struct.pack("!HHB H", 43, 3, 2, 0x0304)  # supported_versions: TLS 1.3
    body = struct.pack("!H", 0x0303) + bytes(32) + b"\0" + struct.pack("!HH", 2, 0x1301) + b"\x01\x00"
    body += struct.pack("!H", len(ext)) + ext
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 22, 0x0301, len(hs)) + hs


def server_hello() -> bytes:
    ext = struct.pack("!HHH", 43, 2, 0x0304)
    body = struct.pack("!H", 0x0303) + bytes(32) + b"\0" + struct.pack("!H", 0x1301) + b"\0"
    body += struct.pack("!H", len(ext)) + ext
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 22, 0x0303, len(hs)) + hs


def app_data(n: int) -> bytes:
    """TLS application-data records filling exactly n octets of a segment."""
    out = b""
    while n - len(out) > 5:
        size = min(n - len(out) - 5, 16384)
        out += struct.pack("!BHH", 23, 0x0303, size) + bytes(size)
    return out.ljust(n, b"\0")


class TcpFlow:
    """A connection: handshake, request, reply head, then a body of segments of
    `segment` octets from the server, each acknowledged by the client."""

    def __init__(self, n: int, port: int, segment: int, rnd: random.Random):
        self.c, self.s = bytes([10, 1, n >> 8, n & 0xFF]), bytes([192, 0, 2 + (n >> 8), n & 0xFF])
        self.cp, self.sp, self.segment = 20000 + n, port, segment
        self.cseq, self.sseq = rnd.getrandbits(32), rnd.getrandbits(32)
        if port == 80:
            self.request = b"GET /video/%d.mp4 HTTP/1.1\r\nHost: cdn%d.example.net\r\nUser-Agent: bench\r\n\r\n" % (n, n)
            self.head = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 1000000000\r\n\r\n"
        else:
            self.request, self.head = client_hello(b"stream%d.example.org" % n), server_hello()

    def to_server(self, flags, payload=b""):
        f = ether(tcp(self.c, self.s, self.cp, self.sp, self.cseq, self.sseq, flags, payload), True)
        self.cseq += len(payload) + (1 if flags & SYN else 0)
        return f

    def to_client(self, flags, payload=b""):
        f = ether(tcp(self.s, self.c, self.sp, self.cp, self.sseq, self.cseq, flags, payload), False)
        self.sseq += len(payload) + (1 if flags & SYN else 0)
        return f

    def opening(self):
        return [self.to_server(SYN), self.to_client(SYN_ACK), self.to_server(ACK),
                self.to_server(PSH_ACK, self.request), self.to_client(PSH_ACK, self.head), self.to_server(ACK)]

    def body(self):
        """(server segment, client ACK) forever."""
        while True:
            data = bytes(self.segment) if self.sp == 80 else app_data(self.segment)
            yield self.to_client(ACK, data), self.to_server(ACK)


class QuicFlow:
    """A QUIC connection: the client's Initial, then 1-RTT short-header packets
    from the server, each answered by a small short-header packet."""

    def __init__(self, n: int, initial: bytes, rnd: random.Random):
        self.c, self.s = bytes([10, 2, n >> 8, n & 0xFF]), bytes([198, 51, 100 + (n >> 8), n & 0xFF])
        self.cp, self.initial, self.rnd = 40000 + n, initial, rnd
        self.dcid = rnd.randbytes(8)

    def opening(self):
        return [ether(udp(self.c, self.s, self.cp, 443, self.initial), True)]

    def short(self, size: int) -> bytes:
        return bytes([0x40 | self.rnd.getrandbits(2)]) + self.dcid + self.rnd.randbytes(size - 9)

    def body(self):
        while True:
            yield (ether(udp(self.s, self.c, 443, self.cp, self.short(MIDDLE_UDP)), False),
                   ether(udp(self.c, self.s, self.cp, 443, self.short(SMALL_QUIC)), True))


def read_pcap(path: str) -> list[bytes]:
    data = open(path, "rb").read()
    off, out = 24, []
    while off + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, off + 8)[0]
        out.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return out


def first_quic_initial(path: str) -> bytes:
    """The UDP payload of the capture's first packet to port 443 that is a
    QUIC long-header Initial (Ethernet, VLAN tags, IPv4 or IPv6)."""
    for f in read_pcap(path):
        l3, ethertype = 14, struct.unpack_from("!H", f, 12)[0]
        while ethertype in (0x8100, 0x88A8):
            ethertype = struct.unpack_from("!H", f, l3 + 2)[0]
            l3 += 4
        if ethertype == 0x0800:
            l4, proto = l3 + (f[l3] & 0x0F) * 4, f[l3 + 9]
        elif ethertype == 0x86DD:
            l4, proto = l3 + 40, f[l3 + 6]
        else:
            continue
        if proto == 17 and struct.unpack_from("!H", f, l4 + 2)[0] == 443:
            payload = f[l4 + 8:]
            if payload and payload[0] & 0xF0 == 0xC0:
                return payload
    raise SystemExit(f"{path}: no QUIC Initial to port 443")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("mix_pcap")
    ap.add_argument("quic_pcap")
    ap.add_argument("--packets", type=int, default=12000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    mix = read_pcap(args.mix_pcap)
    initial = first_quic_initial(args.quic_pcap)
    groups = args.packets // 12
    # 50 to 100 body packets a flow; their openings count among the small frames.
    flows = max(1, groups // 50)
    bulk = [TcpFlow(i, 80 if i % 2 else 443, MSS, rnd) for i in range(flows)]
    interactive = [TcpFlow(1000 + i, 443, MIDDLE_TCP, rnd) for i in range(flows)]
    quic = [QuicFlow(i, initial, rnd) for i in range(flows)]
    bodies = {id(f): f.body() for f in bulk + interactive + quic}
    frames, opened, mix_at = [], set(), 0

    def next_of(pool):
        f = rnd.choice(pool)
        if id(f) not in opened:
            opened.add(id(f))
            frames.extend(f.opening())
        return next(bodies[id(f)])

    for _ in range(groups):
        data, ack = next_of(bulk)
        frames += [data, ack]
        for pool in (interactive, interactive, quic, quic):
            frames += next_of(pool)
        # 1 + 4 data, 5 acks: two frames of the handshake mix complete the twelve.
        for _ in range(2):
            frames.append(mix[mix_at % len(mix)])
            mix_at += 1
    with open(args.out, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, f in enumerate(frames):
            out.write(struct.pack("<IIII", 1_700_000_000 + i // 100000, (i * 10) % 1_000_000, len(f), len(f)))
            out.write(f)


if __name__ == "__main__":
    main()
