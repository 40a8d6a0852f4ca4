#!/usr/bin/env python3
"""How long each token verification's STS call took, from a capture of the loopback
interface: for every connection to port 443 (the cluster's STS forwarder,
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


def connections(path):
    reader = dpkt.pcap.Reader(open(path, "rb"))
    link = dpkt.sll.SLL if reader.datalink() == dpkt.pcap.DLT_LINUX_SLL else dpkt.ethernet.Ethernet
    found = collections.defaultdict(list)
    for ts, frame in reader:
        ip = link(frame).data
        if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.tcp.TCP):
            continue
        tcp = ip.data
        if 443 in (tcp.sport, tcp.dport) and tcp.data:
            client_port = tcp.dport if tcp.sport == 443 else tcp.sport
            found[client_port].append((ts, tcp.sport == 443, len(tcp.data)))
    return found.values()


def verification_ms(segments):
    """None for a connection that carried no whole request (the capture began or ended in it).
    A client port reused later in the capture is a new connection: only the first is read."""
    sent = [ts for ts, from_server, _ in segments if not from_server]
    if len(sent) < 3:  # ClientHello, Finished, then the request
        return None
    request = sent[2]
    answer = [ts for ts, from_server, size in segments
              if from_server and size > ALERT and request < ts < request + 1]
    return (answer[-1] - request) * 1e3 if answer else None


def main():
    times = sorted(t for c in connections(sys.argv[1]) if (t := verification_ms(c)) is not None)
    if not times:
        sys.exit("no STS connection in the capture")
    n = len(times)
    print(f"{n} verifications: median {times[n // 2]:.2f} ms, p90 {times[int(n * 0.9)]:.2f} ms, "
          f"max {times[-1]:.2f} ms; over 8 ms: {sum(t > 8 for t in times)}")


if __name__ == "__main__":
    main()
