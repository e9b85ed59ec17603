#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora from the project's real vectors.

    python3 crates/dataplane/fuzz/seeds.py [OUT_DIR]    (default: fuzz/seeds)

Sources (nothing is made up but the selector bytes the targets expect, see
fuzz/src/lib.rs):
- __test__/vectors/real/*/session.pcap: every UDP 4500 payload of the five
  recorded strongSwan + xl2tpd + pppd sessions (IKE with the non-ESP marker,
  keepalives, ESP). The esp_open target knows the SAs of those sessions
  (their xfrm-state-server.txt), so their ESP packets open.
- crates/dataplane/tests/vectors/framing/real-sessions.txt: the decrypted
  L2TP datagrams of those sessions, and the PPP frames and IP packets in
  them.
- crates/dataplane/tests/ip_policy.rs: the real ping and TCP SYNs (v4, v6).
Writes one file per seed, named by its SHA-1 like libFuzzer's corpus.
"""

import hashlib
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "seeds")


def pcapng_udp_payloads(path):
    """(src port, dst port, payload) of every IPv4 UDP frame of an Ethernet pcapng."""
    data = open(path, "rb").read()
    i = 0
    while i + 12 <= len(data):
        block_type, block_len = struct.unpack_from("<II", data, i)
        if block_type == 6:  # Enhanced Packet Block
            cap_len = struct.unpack_from("<I", data, i + 20)[0]
            frame = data[i + 28 : i + 28 + cap_len]
            if len(frame) > 14 + 20 and frame[12:14] == b"\x08\x00":
                ip = frame[14:]
                ihl = (ip[0] & 0x0F) * 4
                total = struct.unpack_from(">H", ip, 2)[0]
                if ip[9] == 17:
                    udp = ip[ihl:total]
                    sport, dport, ulen = struct.unpack_from(">HHH", udp)
                    yield sport, dport, udp[8:ulen]
        i += block_len


def framing_datagrams():
    """(comment, datagram) of real-sessions.txt."""
    path = os.path.join(REPO, "crates/dataplane/tests/vectors/framing/real-sessions.txt")
    comment = ""
    for line in open(path):
        line = line.strip()
        if line.startswith("# ") and " frame " in line:
            comment = line
        elif line and not line.startswith("#"):
            yield comment, bytes.fromhex(line)


def l2tp_data_payload(d):
    """The PPP frame of an L2TP data message, or None for control messages."""
    flags = struct.unpack_from(">H", d)[0]
    if flags & 0x8000:
        return None
    at = 2 + (2 if flags & 0x4000 else 0) + 4 + (4 if flags & 0x0800 else 0)
    if flags & 0x0200:
        at += 2 + struct.unpack_from(">H", d, at)[0]
    end = struct.unpack_from(">H", d, 2)[0] if flags & 0x4000 else len(d)
    return d[at:end]


def ppp_ip_packet(frame):
    """The IP packet of a PPP frame carrying IPv4 or IPv6, else None."""
    if frame[:2] == b"\xff\x03":
        frame = frame[2:]
    if frame[0] & 1:
        protocol, info = frame[0], frame[1:]
    else:
        protocol, info = struct.unpack_from(">H", frame)[0], frame[2:]
    return info if protocol in (0x21, 0x57) else None


def rust_hex_constants():
    """The hex packets of tests/ip_policy.rs (real ping, loopback SYNs)."""
    src = open(os.path.join(REPO, "crates/dataplane/tests/ip_policy.rs")).read()
    out = []
    for name in ("REAL_PING", "LOOPBACK_SYN_V4", "LOOPBACK_SYN_V6"):
        m = re.search(r"const %s: &str =\s*(.*?);" % name, src, re.S)
        out.append(bytes.fromhex(re.sub(r'[\s"\\]', "", m.group(1))))
    return out


def udp_1701(l2tp):
    return struct.pack(">HHHH", 1701, 1701, 8 + len(l2tp), 0) + l2tp


def set_l2tp_ids(d, tunnel, session):
    """The datagram with its recipient's Tunnel and Session IDs replaced."""
    flags = struct.unpack_from(">H", d)[0]
    at = 4 if flags & 0x4000 else 2
    return d[:at] + struct.pack(">HH", tunnel, session) + d[at + 4 :]


def main():
    seeds = {t: set() for t in ("esp_open", "natt", "l2tp", "ppp", "ip", "engine")}
    sessions = sorted(os.listdir(os.path.join(REPO, "__test__/vectors/real")))
    for s in sessions:
        pcap = os.path.join(REPO, "__test__/vectors/real", s, "session.pcap")
        if not os.path.exists(pcap):
            continue
        for sport, dport, payload in pcapng_udp_payloads(pcap):
            if 4500 not in (sport, dport):
                continue
            seeds["natt"].add(b"\x00" + payload)
            seeds["engine"].add(b"\x01" + payload)
            if len(payload) >= 8 and payload[:4] != b"\0\0\0\0":
                seeds["esp_open"].add(b"\x00" + payload)
                ipv4 = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000, 64, 50, 0,
                                   bytes([203, 0, 113, 5]), bytes([198, 51, 100, 1]))
                seeds["engine"].add(b"\x03" + ipv4 + payload)

    # Seal-then-mutate seeds for every SA the esp_open target knows (15).
    frames = list(framing_datagrams())
    for i, (_, d) in enumerate(frames):
        seeds["l2tp"].add(d)
        plaintext = udp_1701(d)
        sa = i % 15
        seeds["esp_open"].add(bytes([0x80 | sa, 0, 17]) + plaintext)
        seeds["esp_open"].add(bytes([0x80 | sa, 1, 0, 0, 9, 0x40, 17]) + plaintext)
        ppp = l2tp_data_payload(d)
        if ppp is None:
            seeds["engine"].add(b"\x00\x11" + plaintext)
            continue
        seeds["ppp"].add(ppp)
        # Engine target: the data message to its session 1 (with an address)
        # and session 2 (default route), over UDP 4500 and raw ESP.
        for mode, ids in ((0, (38036, 49340)), (2, (34182, 52798))):
            seeds["engine"].add(bytes([mode, 17]) + udp_1701(set_l2tp_ids(d, *ids)))
        packet = ppp_ip_packet(ppp)
        if packet is not None:
            seeds["ip"].add(b"\x00\x04\xd8\x05\x00" + packet)
            seeds["engine"].add(b"\x04" + packet)
    for packet in rust_hex_constants():
        seeds["ip"].add(b"\x00\x04\xd8\x05\x00" + packet)
        seeds["ip"].add(b"\x05\x00\x10\x00\x40" + packet)
        seeds["engine"].add(b"\x04" + packet)
        # A UDP/TCP segment with NAT-OA addresses for natt::checksum.
        seg = packet[20:] if packet[0] >> 4 == 4 else packet[40:]
        addrs = bytes([10, 0, 2, 15, 10, 0, 2, 2, 127, 0, 0, 1, 10, 0, 2, 2])
        seeds["natt"].add(b"\x00" + addrs + seg)
        seeds["natt"].add(b"\x01" + addrs + seg)

    total = 0
    for target, items in seeds.items():
        d = os.path.join(OUT, target)
        os.makedirs(d, exist_ok=True)
        for item in items:
            with open(os.path.join(d, hashlib.sha1(item).hexdigest()), "wb") as f:
                f.write(item)
        total += len(items)
        print(f"{target}: {len(items)} seeds")
    print(f"{total} seeds in {OUT}")


if __name__ == "__main__":
    main()
