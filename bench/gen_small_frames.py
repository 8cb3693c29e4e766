#!/usr/bin/env python3
"""Writes a pcap of 64-byte frames (60 on the wire without FCS): IPv4/UDP with
many distinct 5-tuples, so a flow table sees many flows. Deterministic."""
import struct
import sys


def main() -> None:
    out, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 4096
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(count):
            src = bytes([198, 18, (i >> 8) & 0xFF, i & 0xFF])
            dst = bytes([198, 19, (i >> 4) & 0xFF, (i * 7) & 0xFF])
            udp = struct.pack("!HHHH", 1024 + (i % 50000), 9 if i % 4 == 0 else 443, 8 + 18, 0) + bytes(18)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0, src, dst)
            csum = 0
            for j in range(0, 20, 2):
                csum += (ip[j] << 8) | ip[j + 1]
            csum = (csum & 0xFFFF) + (csum >> 16)
            csum = ~((csum & 0xFFFF) + (csum >> 16)) & 0xFFFF
            ip = ip[:10] + struct.pack("!H", csum) + ip[12:]
            frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + udp
            frame = frame[:60].ljust(60, b"\x00")
            f.write(struct.pack("<IIII", 1_700_000_000, i, len(frame), len(frame)))
            f.write(frame)


if __name__ == "__main__":
    main()
