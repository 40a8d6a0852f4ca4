#!/usr/bin/env python3
"""How long each token verification's STS call took, from a capture of the loopback
interface: for every request on a connection to port 443 (the cluster's STS forwarder,
crates/testbed/src/harness/cluster/sts_tls.rs), the time from the authenticator's request
record to the last answer record larger than a TLS alert; and per connection, from its SYN
to its first request (what a new connection costs). A diagnostic, not a test:

    tcpdump -i lo -s 400 -w /tmp/sts.pcap 'port 443' &
    target/release/suite-bench --release-dir target/release --cold-start-only
    pip install dpkt && scripts/sts-verify-times.py /tmp/sts.pcap
"""
import collections
import sys

import dpkt

ALERT = 30  # a TLS close_notify record is 24 bytes; an answer's records are larger


def packets(reader):
    """The capture's packets; a capture cut short (tcpdump killed mid-write) ends early."""
    try:
        yield from reader
    except dpkt.dpkt.NeedData:
        return


def connections(path):
    reader = dpkt.pcap.Reader(open(path, "rb"))
    link = dpkt.sll.SLL if reader.datalink() == dpkt.pcap.DLT_LINUX_SLL else dpkt.ethernet.Ethernet
    found = collections.defaultdict(list)
    syn = {}  # when each connection was opened (its client's SYN)
    opened = collections.Counter()  # a client port's connections so far (a SYN opens one)
    for ts, frame in packets(reader):
        ip = link(frame).data
        if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.tcp.TCP):
            continue
        tcp = ip.data
        if 443 not in (tcp.sport, tcp.dport):
            continue
        client_port = tcp.dport if tcp.sport == 443 else tcp.sport
        if tcp.flags & dpkt.tcp.TH_SYN and not tcp.flags & dpkt.tcp.TH_ACK:
            opened[client_port] += 1
            syn[client_port, opened[client_port]] = ts
        if tcp.data:
            found[client_port, opened[client_port]].append((ts, tcp.sport == 443, len(tcp.data)))
    return [(syn.get(c), segments) for c, segments in found.items()]


def requests_of(segments):
    """When the client's request records were sent: its records after the handshake's two
    (ClientHello, Finished)."""
    return [ts for ts, from_server, _ in segments if not from_server][2:]


def verifications_ms(segments):
    """Each request's time on one connection, the connection kept alive between requests:
    from the request's record to the last answer record before the next request (or within
    1 s). A connection that carried no whole request (the capture began or ended in it) gives
    none."""
    requests = requests_of(segments)
    for i, request in enumerate(requests):
        until = min(requests[i + 1], request + 1) if i + 1 < len(requests) else request + 1
        answer = [ts for ts, from_server, size in segments
                  if from_server and size > ALERT and request < ts < until]
        if answer:
            yield (answer[-1] - request) * 1e3


def handshake_ms(opened, segments):
    """From the client's SYN to its first request (TCP and TLS handshakes), or None."""
    requests = requests_of(segments)
    return (requests[0] - opened) * 1e3 if opened is not None and requests else None


def main():
    conns = connections(sys.argv[1])
    times = sorted(t for _, c in conns for t in verifications_ms(c))
    handshakes = sorted(h for o, c in conns if (h := handshake_ms(o, c)) is not None)
    if not times:
        sys.exit("no STS connection in the capture")
    n = len(times)
    print(f"{n} verifications: median {times[n // 2]:.2f} ms, p90 {times[int(n * 0.9)]:.2f} ms, "
          f"max {times[-1]:.2f} ms; over 8 ms: {sum(t > 8 for t in times)}; "
          f"{len(conns)} connections" + (f", SYN to first request median "
          f"{handshakes[len(handshakes) // 2]:.2f} ms" if handshakes else ""))


if __name__ == "__main__":
    main()
