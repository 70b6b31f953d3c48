"""Launch to the first HTTP response of examples/http-static under urunc's command lines.

Rows, all the same x86_64-kvm image (`wasmkiln oci`'s kernel, site packed, port 80 baked in),
QEMU under TCG, the NIC on a tap in a network namespace this script creates (root needed):
- urunc's QEMU argv for unikernelType mewz (the i440fx `pc` machine with SeaBIOS, a modern
  virtio-net-pci NIC, exit port 0x501; tests/urunc_launch.py, pinned commit), `-accel tcg` in
  place of `-cpu host -enable-kvm` (/dev/kvm here is PVM);
- urunc's Firecracker config (unikernelType unikraft) on QEMU microvm with virtio-mmio, the
  stand-in for Firecracker, which cannot be installed here;
- the peer: wasmkiln's own runner argv (`runner.qemu_command`: microvm, no firmware), its
  netdev replaced by the same tap.
The clock starts just before QEMU is started and stops at the first 200 of a GET of `/`. GETs
start once the guest's console says "serving" (an earlier SYN would be retransmitted by the
host only after 1 s) and come from a thread that entered the namespace (setns), so no process
start-up is timed. Medians of --runs launches; the machine's other load makes single runs noisy.
Writes bench/results/urunc_boot.json.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import BenchError, Table, machine_facts, median, publish, run_script

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from urunc_launch import (  # noqa: E402  (the tests' mirror of urunc, one source)
    URUNC_COMMIT,
    firecracker_config,
    firecracker_on_microvm,
    mewz_cmdline,
    qemu_argv,
    unikraft_cmdline,
)

QEMU = "qemu-system-x86_64"
CLONE_NEWNET = 0x40000000
NS, TAP, HOST, GUEST = "wkbench", "tap0_urunc", "10.79.0.1", "10.79.0.2"


def sh(*argv: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)}: {proc.stderr.strip()}")


def get_in_netns(deadline: float, console: Path) -> bool:
    """From a thread inside NS: wait for "serving" on the console, then GET / until a 200."""
    result = [False]

    def work() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        with open(f"/var/run/netns/{NS}") as f:
            if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
                return
        while time.perf_counter() < deadline:
            if b"serving" in console.read_bytes():
                try:
                    with socket.create_connection((GUEST, 80), timeout=0.5) as c:
                        c.sendall(b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                        if c.recv(16).startswith(b"HTTP/1.1 200"):
                            result[0] = True
                            return
                except OSError:
                    pass
            time.sleep(0.002)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    return result[0]


def first_response(argv: list[str], tmp: Path) -> float:
    console = tmp / "console.txt"
    console.write_bytes(b"")
    with console.open("ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            ["ip", "netns", "exec", NS, *argv], stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    try:
        if not get_in_netns(t0 + 60, console):
            raise BenchError(
                f"no response from {argv[:3]}...: {console.read_text(errors='replace')[-300:]}"
            )
        return time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def rows(kernel: Path, tmp: Path) -> dict[str, list[str]]:
    from wasmkiln.pyhook.run.netopts import NetOptions
    from wasmkiln.pyhook.run.runner import RunOptions, qemu_command

    mewz = qemu_argv(QEMU, str(kernel), TAP, mewz_cmdline(GUEST, "255.255.255.0", HOST), "mewz")
    boot = unikraft_cmdline(["server"], ["PATH=/usr/bin"], GUEST, HOST)
    fc = firecracker_on_microvm(
        QEMU, firecracker_config(str(kernel), TAP, "02:fc:00:00:00:02", boot)
    )
    opts = RunOptions(
        accel="tcg", memory_mb=64, net=NetOptions.parse([], [], f"{GUEST}/24", HOST, nic=True)
    )
    peer = qemu_command(kernel, opts, tmp / "control", (1, 2))
    cut = peer.index("-netdev")
    peer[cut + 1] = f"tap,id=n0,ifname={TAP},script=no,downscript=no"
    return {
        "urunc qemu argv (mewz, pc + virtio-net-pci)": mewz,
        "urunc firecracker config on microvm (unikraft)": fc,
        "wasmkiln runner argv (microvm, virtio-mmio)": _plain_serial(peer),
    }


def _plain_serial(argv: list[str]) -> list[str]:
    """The runner's argv with its output chardevs (fd sets of the runner's process) replaced
    by stdio for COM1 and COM2 (where "serving" is printed) and a sink for the control port."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("-add-fd", "-chardev", "-serial"):
            skip = True
            continue
        out.append(a)
    return [
        *out,
        "-chardev",
        "stdio,id=out",
        "-serial",
        "chardev:out",
        "-chardev",
        "file,id=err,path=/dev/stdout,append=on",
        "-chardev",
        "null,id=ctl",
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="3 runs")
    a = p.parse_args()
    runs = 3 if a.quick else a.runs
    if os.geteuid() != 0:
        raise BenchError("needs root: it creates a network namespace and a tap")
    with tempfile.TemporaryDirectory(prefix="wk-urunc-") as t:
        tmp = Path(t)
        wasm = tmp / "server.wasm"
        sh("clang-14", "--target=wasm32-wasi", "-O2",
           str(REPO / "examples" / "http-static" / "server.c"), "-o", str(wasm))  # fmt: skip
        sh(sys.executable, "-m", "wasmkiln.pyhook.cli.main", "build", str(wasm), "--dir",
           f"{REPO / 'examples' / 'http-static' / 'site'}::/", "-p", "80:80", "-o",
           str(tmp / "server.img"))  # fmt: skip
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        sh("ip", "netns", "add", NS)
        try:
            for argv in (
                ["ip", "link", "set", "lo", "up"],
                ["ip", "tuntap", "add", "dev", TAP, "mode", "tap"],
                ["ip", "addr", "add", f"{HOST}/24", "dev", TAP],
                ["ip", "link", "set", TAP, "up"],
            ):
                sh("ip", "netns", "exec", NS, *argv)
            table = Table(
                "Launch to first HTTP response, QEMU TCG, tap in a netns (ms)",
                ["launch line", "median", "min", "max", "runs"],
            )
            results = {}
            plan = rows(tmp / "server.img", tmp)
            samples: dict[str, list[float]] = {k: [] for k in plan}
            for _ in range(runs):  # interleaved, so that load drifts hit every row alike
                for label, argv in plan.items():
                    samples[label].append(first_response(argv, tmp) * 1000)
            for label, xs in samples.items():
                results[label] = {"median_ms": median(xs), "samples_ms": xs}
                table.rows.append([label, f"{median(xs):.0f}", f"{min(xs):.0f}",
                                   f"{max(xs):.0f}", str(len(xs))])  # fmt: skip
        finally:
            subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    print(table.render())
    publish(
        "urunc_boot",
        {
            "urunc_commit": URUNC_COMMIT,
            "machine": machine_facts(),
            "rows": results,
            "chart": {
                "title": "examples/http-static: launch to first HTTP response (QEMU TCG)",
                "ylabel": "ms (median)",
                "log": False,
                "reference": None,
                "groups": list(results),
                "series": {"median": [r["median_ms"] for r in results.values()]},
            },
        },
    )
    return 0


if __name__ == "__main__":
    run_script(main)
