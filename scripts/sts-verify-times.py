#!/usr/bin/env python3
"""How long each token verification's STS call took, from a capture of the loopback
interface: for every request on a connection to port 443 (the cluster's STS forwarder,
crates/testbed/src/harness/cluster/sts_tls.rs), the time from the authenticator's request
record to the last answer record larger than a TLS alert. A diagnostic, not a test:

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
        if tcp.data:
            found[client_port, opened[client_port]].append((ts, tcp.sport == 443, len(tcp.data)))
    return found.values()


def verifications_ms(segments):
    """Each request's time on one connection, the connection kept alive between requests:
    from the request's record to the last answer record before the next request (or within
    1 s). A connection that carried no whole request (the capture began or ended in it) gives
    none."""
    sent = [ts for ts, from_server, _ in segments if not from_server]
    requests = sent[2:]  # ClientHello, Finished, then the requests
    for i, request in enumerate(requests):
        until = min(requests[i + 1], request + 1) if i + 1 < len(requests) else request + 1
        answer = [ts for ts, from_server, size in segments
                  if from_server and size > ALERT and request < ts < until]
        if answer:
            yield (answer[-1] - request) * 1e3


def main():
    conns = list(connections(sys.argv[1]))
    times = sorted(t for c in conns for t in verifications_ms(c))
    if not times:
        sys.exit("no STS connection in the capture")
    n = len(times)
    print(f"{n} verifications: median {times[n // 2]:.2f} ms, p90 {times[int(n * 0.9)]:.2f} ms, "
          f"max {times[-1]:.2f} ms; over 8 ms: {sum(t > 8 for t in times)}; "
          f"{len(conns)} connections")


if __name__ == "__main__":
    main()
