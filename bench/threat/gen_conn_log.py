#!/usr/bin/env python3
"""Writes a Zeek TSV conn.log for the threat benchmark (bench/threat.sh).

Clients: about 1% (--listed) are addresses taken from the real feeds, drawn from a pool of
rows/1000 addresses so that each listed client comes back about ten times (as scanners do, and
so that alert dedup has work); the rest are uniformly random public IPv4 addresses. Some of
those random ones fall inside listed networks too (FireHOL level1 alone covers hundreds of
millions of addresses): that is what real traffic does, and both tools see the same file.
Servers: 30% of the rows go to the hosts of inventory.tsv on their port, the rest to random
10.0.x.y on 22, 80 or 443. The same seed gives the same file, byte for byte.

With --format zeek-json the same rows are written as Zeek JSON lines (LogAscii::use_json=T), with
--format suricata as Suricata eve.json flow records (one per connection, src_ip the client): the
same seed gives the same connections in every format.

Usage: gen_conn_log.py --rows N --seed S --feeds DIR --inventory FILE --out FILE [--format F]
"""

import argparse
import random
import sys
import time
from pathlib import Path

HEADER = (
    "#separator \\x09\n"
    "#set_separator\t,\n"
    "#empty_field\t(empty)\n"
    "#unset_field\t-\n"
    "#path\tconn\n"
    "#open\t2024-05-01-12-00-00\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration"
    "\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory"
    "\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring"
    "\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n"
)

# The IPv4 ranges picket-intel leaves out as bogon or private (crates/picket-intel/src/bogon.rs).
# Clients never come from them: a client there would be a home address, not an inbound one.
BOGONS = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3",
)

SERVICES = {22: "ssh", 80: "http", 443: "ssl"}
# Connection states with their Zeek history strings; SF three times: most connections complete.
STATES = [
    ("SF", "ShADadFf"), ("SF", "ShADadFf"), ("SF", "ShADadFf"), ("S0", "S"), ("REJ", "Sr"),
    ("RSTO", "ShADaR"), ("SH", "ShF"),
]


def dotted(a: int) -> str:
    return f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"


def parse_v4(text: str) -> tuple[int, int] | None:
    """`a.b.c.d` or `a.b.c.d/len` as (first, last); None for anything else. Hand-rolled
    because ipaddress takes seconds over the 140k feed entries."""
    addr, _, length = text.partition("/")
    parts = addr.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        return None
    if length and not (length.isdigit() and int(length) <= 32):
        return None
    bits = 32 - int(length or 32)
    a = int(parts[0]) << 24 | int(parts[1]) << 16 | int(parts[2]) << 8 | int(parts[3])
    lo = a >> bits << bits
    return lo, lo + (1 << bits) - 1


BOGON_RANGES = [r for r in map(parse_v4, BOGONS) if r]
# Per first octet: True if the whole /8 is bogon, else the bogon ranges inside it (often none),
# so that the check per generated address is one index and rarely a loop.
BY_OCTET = [
    True
    if any(lo <= o << 24 and (o << 24 | 0xFFFFFF) <= hi for lo, hi in BOGON_RANGES)
    else [(lo, hi) for lo, hi in BOGON_RANGES if lo >> 24 <= o <= hi >> 24]
    for o in range(256)
]


def is_bogon(a: int) -> bool:
    ranges = BY_OCTET[a >> 24]
    return ranges is True or any(lo <= a <= hi for lo, hi in ranges)


def read_feeds(feeds: Path) -> dict[str, list[tuple[int, int]]]:
    """Every feed file as its list of IPv4 ranges (first, last); comments and the IPsum count
    column are dropped, entries wholly inside one bogon range are skipped."""
    out = {}
    for path in sorted(p for p in feeds.iterdir() if p.is_file()):
        ranges = []
        for line in path.read_text(encoding="ascii", errors="replace").splitlines():
            field = line.split("#", 1)[0].split()
            r = parse_v4(field[0]) if field else None
            if r and not any(blo <= r[0] and r[1] <= bhi for blo, bhi in BOGON_RANGES):
                ranges.append(r)
        if ranges:
            out[path.name] = ranges
    return out


def listed_pool(feeds: dict[str, list[tuple[int, int]]], size: int, rng: random.Random) -> list[int]:
    """Addresses from the feeds: a feed at random (so the small feeds are represented, not only
    IPsum's 120k entries), an entry of it, an address inside that is not bogon."""
    names = sorted(feeds)
    pool = []
    while len(pool) < size:
        lo, hi = rng.choice(feeds[rng.choice(names)])
        a = rng.randint(lo, hi)
        if not is_bogon(a):
            pool.append(a)
    return pool


def random_public(rng: random.Random) -> int:
    while True:
        a = rng.getrandbits(32)
        if not is_bogon(a):
            return a


def read_inventory(path: Path) -> list[tuple[str, int]]:
    servers = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        host, port = line.split("\t")[0].rsplit(":", 1)
        servers.append((host, int(port)))
    return servers


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--listed", type=float, default=0.01, help="share of rows from listed clients")
    ap.add_argument("--feeds", type=Path, required=True)
    ap.add_argument("--inventory", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--format", choices=("zeek", "zeek-json", "suricata"), default="zeek")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    feeds = read_feeds(args.feeds)
    if not feeds:
        print(f"gen_conn_log: no IPv4 entries in {args.feeds}", file=sys.stderr)
        return 1
    pool = listed_pool(feeds, max(1, args.rows // 1000), rng)
    servers = read_inventory(args.inventory)
    ports = sorted(SERVICES)

    planted = 0
    listed = round(args.listed * 65536)
    base = 1_714_564_800
    with args.out.open("w", encoding="ascii", buffering=1 << 20) as w:
        if args.format == "zeek":
            w.write(HEADER)
        for i in range(args.rows):
            # One 64-bit draw feeds the small fields, so that a million rows take seconds.
            x = rng.getrandbits(64)
            if (x & 0xFFFF) < listed:
                client = rng.choice(pool)
                planted += 1
            else:
                client = random_public(rng)
            if servers and (x >> 16 & 0xFF) < 77:  # 77/256: 30%
                host, port = servers[(x >> 24 & 0xFF) % len(servers)]
            else:
                host, port = f"10.0.{x >> 24 & 0xFF}.{x >> 32 & 0xFF}", ports[(x >> 40 & 0xFF) % 3]
            state, history = STATES[(x >> 48 & 0xFF) % len(STATES)]
            pkts = 1 + (x >> 56) % 60
            rpkts = 0 if state in ("S0", "REJ") else 1 + (x >> 50) % 60
            orig_bytes = pkts * ((x >> 8) % 1400)
            resp_bytes = rpkts * ((x >> 20) % 1400)
            ts = f"{base + i // 100}.{x % 1_000_000:06d}"
            sport = 1024 + (x >> 4) % 64512
            duration = f"{(x >> 12) % 30_000_000 / 1e6:.6f}"
            if args.format == "zeek":
                w.write(
                    f"{ts}\tC{x:016x}\t{dotted(client)}"
                    f"\t{sport}\t{host}\t{port}\ttcp\t{SERVICES.get(port, '-')}"
                    f"\t{duration}\t{orig_bytes}\t{resp_bytes}\t{state}\tF\tT\t0"
                    f"\t{history}\t{pkts}\t{orig_bytes + 40 * pkts}\t{rpkts}\t{resp_bytes + 40 * rpkts}\t-\n"
                )
            elif args.format == "zeek-json":
                w.write(
                    f'{{"ts":{ts},"uid":"C{x:016x}","id.orig_h":"{dotted(client)}","id.orig_p":{sport},'
                    f'"id.resp_h":"{host}","id.resp_p":{port},"proto":"tcp",'
                    + (f'"service":"{SERVICES[port]}",' if port in SERVICES else "")
                    + f'"duration":{duration},"orig_bytes":{orig_bytes},"resp_bytes":{resp_bytes},'
                    f'"conn_state":"{state}","local_orig":false,"local_resp":true,"missed_bytes":0,'
                    f'"history":"{history}","orig_pkts":{pkts},"orig_ip_bytes":{orig_bytes + 40 * pkts},'
                    f'"resp_pkts":{rpkts},"resp_ip_bytes":{resp_bytes + 40 * rpkts}}}\n'
                )
            else:
                start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + i // 100))
                stamp = f"{start}.{x % 1_000_000:06d}+0000"
                flags = "1b" if state in ("SF", "RSTO") else ("14" if state == "REJ" else "0")
                w.write(
                    f'{{"timestamp":"{stamp}","flow_id":{x >> 12},"in_iface":"eth0","event_type":"flow",'
                    f'"src_ip":"{dotted(client)}","src_port":{sport},"dest_ip":"{host}","dest_port":{port},'
                    f'"proto":"TCP","app_proto":"{SERVICES.get(port, "failed")}","flow":{{"pkts_toserver":{pkts},'
                    f'"pkts_toclient":{rpkts},"bytes_toserver":{orig_bytes + 40 * pkts},'
                    f'"bytes_toclient":{resp_bytes + 40 * rpkts},"start":"{stamp}","end":"{stamp}",'
                    f'"age":0,"state":"closed","reason":"timeout","alerted":false}},'
                    f'"tcp":{{"tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"{flags}","syn":true}}}}\n'
                )
        if args.format == "zeek":
            close = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(base + args.rows // 100))
            w.write(f"#close\t{close}\n")
    print(
        f"gen_conn_log: {args.rows} rows, {planted} from {len(pool)} listed clients"
        f" (feeds: {', '.join(f'{n} {len(r)}' for n, r in sorted(feeds.items()))})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
