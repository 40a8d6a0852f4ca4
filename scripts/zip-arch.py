#!/usr/bin/env python3
"""zip-arch.py ZIP ARCH: fails unless the zip's `bootstrap` is an ELF binary for ARCH
(x86_64 or arm64), so `make deploy` never ships zips of one architecture to functions
declared with the other (Lambda would only fail at the first invocation)."""
import sys
import zipfile

MACHINES = {"x86_64": 0x3E, "arm64": 0xB7}  # ELF e_machine: EM_X86_64, EM_AARCH64

path, arch = sys.argv[1], sys.argv[2]
if arch not in MACHINES:
    sys.exit(f"ARCH={arch}: expected one of {', '.join(MACHINES)}")
with zipfile.ZipFile(path) as z:
    head = z.open("bootstrap").read(20)
found = {v: k for k, v in MACHINES.items()}.get(int.from_bytes(head[18:20], "little"), "another")
if head[:4] != b"\x7fELF" or found != arch:
    sys.exit(f"{path} holds a {found} bootstrap, ARCH is {arch}: make build ARCH={arch}")
