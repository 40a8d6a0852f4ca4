#!/usr/bin/env python3
"""Peak RSS of a function binary at its first Runtime API poll, and which mappings hold it.

usage: rss_at_first_poll.py BINARY [RUNS] [--cat]

A by-hand companion of suite-bench's peak-RSS figure (BENCHMARKS.md, "Peak RSS: init code
together"): it starts BINARY RUNS times (default 5) with a Runtime API listener of its own and
the settings suite-bench gives it (`testbed::bench::startup_env`, any CA will do: init makes no
remote call), waits for the first poll's request, reads VmHWM and /proc/<pid>/smaps, kills it.
Prints the median VmHWM and, for the last run, the resident KiB per mapping (file, permissions).
--cat reads the binary whole before each start, as `make bench`'s zip step does: what is resident
after a fault depends on which neighbouring pages the page cache holds (fault-around)."""
import base64
import collections
import glob
import os
import socket
import statistics
import subprocess
import sys

NODE_AUTOSCALER = {
    "MASTER_TAG_KEY": "k3s-role", "MASTER_TAG_VALUE": "master",
    "WORKER_TAG_KEY": "k3s-role", "WORKER_TAG_VALUE": "worker",
    "WORKER_SUBNET_IDS": "subnet-1,subnet-2", "WORKER_SG_ID": "sg-1", "WORKER_AMI_ID": "ami-1",
    "K3S_CLUSTER_TOKEN_PARAM": "/k3s/cluster-token", "K8S_API_TOKEN_PARAM": "/k3s/api-token",
    "STATE_TABLE": "bench-state", "LOGS_TABLE": "bench-logs",
}


def settings(name, runtime_api):
    ca = open(sorted(glob.glob("/etc/ssl/certs/*.pem"))[0], "rb").read()
    env = {
        "AWS_LAMBDA_RUNTIME_API": runtime_api, "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench", "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "CLUSTER_NAME": "bench", "API_SERVER": "https://127.0.0.1:6443",
        "CERT_AUTHORITY": base64.b64encode(ca).decode(), "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
    }
    if name == "alarm-sync":
        env["SNS_TOPIC_ARN"] = "arn:aws:sns:us-east-1:123456789012:bench"
    if name == "node-autoscaler":
        env.update(NODE_AUTOSCALER)
    return env


def one_start(binary, cat):
    """(VmHWM KiB, {"<file> <perms>": resident KiB}) at the first poll."""
    if cat:
        with open(binary, "rb") as f:
            f.read()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    env = settings(os.path.basename(binary), "127.0.0.1:%d" % listener.getsockname()[1])
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        listener.settimeout(10)
        poll, _ = listener.accept()
        poll.recv(64)  # the poll's request line: init is over
        with open(f"/proc/{process.pid}/status") as f:
            hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
        resident, mapping = collections.Counter(), None
        with open(f"/proc/{process.pid}/smaps") as f:
            for line in f:
                fields = line.split()
                if fields[0] == "Rss:":
                    resident[mapping] += int(fields[1])
                elif "-" in fields[0] and not fields[0].endswith(":"):
                    path = fields[5] if len(fields) > 5 else "[anon]"
                    file = "binary" if path == binary else os.path.basename(path)
                    mapping = f"{file} {fields[1]}"
        poll.close()
        return hwm, resident
    finally:
        process.kill()
        process.wait()
        listener.close()


def main():
    args = [a for a in sys.argv[1:] if a != "--cat"]
    if not args:
        sys.exit(__doc__)
    binary = os.path.realpath(args[0])
    runs = int(args[1]) if len(args) > 1 else 5
    cat = "--cat" in sys.argv
    starts = [one_start(binary, cat) for _ in range(runs)]
    hwms = [hwm for hwm, _ in starts]
    print(f"{os.path.basename(binary)}: peak RSS (VmHWM) median {statistics.median(hwms):.0f} KiB "
          f"({min(hwms)}–{max(hwms)}, {runs} starts{', binary read whole first' if cat else ''})")
    for mapping, kib in starts[-1][1].most_common():
        if kib >= 64:
            print(f"  {mapping}: {kib} KiB")


if __name__ == "__main__":
    main()
