"""Boot benchmark: time from launch to exit of hello, image sizes, and the least guest memory.

    python bench/boot.py [--quick] [--reps N]

Two hello programs: the shipped example (pyhook/examples/hello.wasm, hand-written WAT) and
tests/fixtures/hello.c (wasi-libc's start-up: args, environ, stdio), each run as
- wasmkiln kvm image under QEMU microvm, with the runner's own command
  (pyhook.run.runner.qemu_command) and TCG (printed: on this machine /dev/kvm is PVM, see
  docs/performance.md);
- wasmkiln spt process;
- the wasmtime 36 CLI on the host, precompiled (`wasmtime compile` + `--allow-precompiled`, the
  like of wasmkiln's AOT image) and as a user would type it (`wasmtime run hello.wasm`, which
  compiles first);
- the seed's baseline, a Linux VM running that wasmtime under the same QEMU, machine type
  (microvm), accelerator (TCG), vCPU count (1) and memory (256 MiB): bench/linuxvm/build.py;
- the same C compiled natively (hello.c only), the floor of any process start.
Each figure is the wall time from just before the fork to the exit being reaped, the median of
the repetitions (interleaved). The least memory is a binary search over QEMU's -m with the same
command, where "boots" means exit code 0 and the expected output.

And the first HTTP response of examples/http-static (bench/first_response.py): from launch to
the first 200 for the image under QEMU microvm and the spt process (launched as the runner does,
and through `wasmkiln run -p`), the Linux VM + wasmtime under the same QEMU, and wasmtime on the
host.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import (
    CACHE,
    REPO,
    Table,
    fmt,
    machine_facts,
    median,
    publish,
    ratio,
    run_script,
    run_timed,
    say,
    wasmkiln_build,
    wasmtime_binary,
)

sys.path.insert(0, str(Path(__file__).resolve().parent / "linuxvm"))
import first_response  # noqa: E402

import build as linuxvm  # noqa: E402

WORK = CACHE / "boot"
MEMORY_MB = 256  # every VM row (the Linux VM needs 223 MiB; `wasmkiln run`'s default is 128)
HELLOS = {
    "hello": REPO / "pyhook" / "examples" / "hello.wasm",
    "hello-c": REPO / "tests" / "fixtures" / "hello.c",
}
GREETING = {"hello": b"Hello from a wasmkiln unikernel", "hello-c": b"hello, world!"}


@dataclass
class Case:
    program: str
    runner: str
    cmd: list[str]
    cwd: Path | None = None
    expect: tuple[bytes, ...] = ()  # what stdout must contain
    control: Path | None = None  # kvm: the exit code arrives on this file
    qemu: tuple[Path, int] | None = None  # kvm: (image, -m); cmd is made per run (_run_case)
    reps: int = 10
    timeout: float = 30.0
    samples: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _ok(case: Case, stdout: bytes, returncode: int) -> str | None:
    if case.control is not None:
        text = case.control.read_text(errors="replace")
        if "exit 0" not in text:
            return f"no 'exit 0' on the control port (QEMU status {returncode})"
    elif returncode != 0:
        return f"exit status {returncode}"
    missing = [e for e in case.expect if e not in stdout]
    return f"output lacks {missing[0]!r}" if missing else None


def _run_case(case: Case) -> str | None:
    if case.control is not None:
        case.control.write_bytes(b"")
    try:
        if case.qemu is not None and case.control is not None:
            stdout, run = _run_qemu(case, *case.qemu)
        else:
            run = run_timed(case.cmd, cwd=case.cwd, timeout=case.timeout)
            stdout = run.stdout
    except subprocess.TimeoutExpired:
        return f"timed out ({case.timeout:g} s)"
    problem = _ok(case, stdout, run.returncode)
    if problem is None:
        case.samples.append(run.seconds * 1000.0)
    return problem


def _qemu(image: Path, control: Path, memory_mb: int, out_fds: tuple[int, int]) -> list[str]:
    from wasmkiln.pyhook.run.runner import RunOptions, qemu_command

    cmd = qemu_command(
        image,
        RunOptions(accel="tcg", memory_mb=memory_mb, program_name=image.stem),
        control,
        out_fds,
    )
    return [str(word) for word in cmd]


def _run_qemu(case: Case, image: Path, memory_mb: int) -> tuple[bytes, Any]:
    """One kvm run with the runner's command: QEMU takes the guest's stdout/stderr as fd sets
    and refuses fds 0-2, so they go to files handed over by descriptor, as `wasmkiln run` does."""
    assert case.control is not None
    out, err = case.control.with_suffix(".out"), case.control.with_suffix(".err")
    with out.open("wb") as fo, err.open("wb") as fe:
        fds = (fo.fileno(), fe.fileno())
        case.cmd = _qemu(image, case.control, memory_mb, fds)
        run = run_timed(case.cmd, cwd=case.cwd, timeout=case.timeout, pass_fds=fds)
    return out.read_bytes(), run


def _wasm_for(name: str, src: Path) -> Path:
    if src.suffix == ".wasm":
        return src
    out = WORK / f"{name}.wasm"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["clang-14", "--target=wasm32-wasi", "-O2", "-s", "-o", str(out), str(src)], check=True
        )
    return out


def _native_for(name: str, src: Path) -> Path:
    out = WORK / f"{name}.native"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["gcc", "-O2", "-o", str(out), str(src)], check=True)
    return out


def least_memory(ok: Any, lo: int, hi: int) -> int | None:
    """The smallest m in [lo, hi] with ok(m) true, assuming ok is monotonic; None if ok(hi)
    is false."""
    if not ok(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="boot time, image size and least memory of hello")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="3 reps, one Linux-VM boot, no memory search for the Linux VM",
    )
    ap.add_argument("--reps", type=int, help="repetitions of the fast rows (default 10)")
    args = ap.parse_args(argv)
    fast_reps = args.reps or (3 if args.quick else 10)
    vm_reps = 1 if args.quick else max(3, fast_reps // 2)

    wasmtime = wasmtime_binary()
    vm = linuxvm.build()
    WORK.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    sizes: dict[str, dict[str, int]] = {}
    least: dict[str, int | None] = {}
    with tempfile.TemporaryDirectory(prefix="bench-boot-") as tmp:
        for name, src in HELLOS.items():
            wasm = _wasm_for(name, src)
            kvm_img, spt_img = WORK / f"{name}.img", WORK / f"{name}.spt"
            wasmkiln_build(wasm, "x86_64-kvm", kvm_img)
            wasmkiln_build(wasm, "x86_64-spt", spt_img)
            debug_img = WORK / f"{name}-debug.img"  # size only: DWARF kept (build --debug)
            wasmkiln_build(wasm, "x86_64-kvm", debug_img, ["--debug"])
            cwasm = WORK / f"{name}.cwasm"
            subprocess.run([str(wasmtime), "compile", str(wasm), "-o", str(cwasm)], check=True)
            control = Path(tmp) / f"{name}.control"
            control.touch()
            hi = (GREETING[name],)
            cases += [
                Case(
                    name,
                    "wasmkiln kvm, QEMU microvm TCG",
                    [],
                    control=control,
                    qemu=(kvm_img, MEMORY_MB),
                    expect=hi,
                    reps=fast_reps,
                ),
                Case(name, "wasmkiln spt process", [str(spt_img), "--"], expect=hi, reps=fast_reps),
                Case(
                    name,
                    "wasmtime CLI, precompiled",
                    [str(wasmtime), "run", "--allow-precompiled", str(cwasm)],
                    expect=hi,
                    reps=fast_reps,
                ),
                Case(
                    name,
                    "wasmtime CLI, compiles at run",
                    [str(wasmtime), "run", str(wasm)],
                    expect=hi,
                    reps=fast_reps,
                ),
                Case(
                    name,
                    "Linux VM + wasmtime, QEMU microvm TCG",
                    linuxvm.linuxvm_command(
                        vm,
                        MEMORY_MB,
                        ["/bin/wasmtime", "run", "--allow-precompiled", f"/{name}.cwasm"],
                    ),
                    expect=(*hi, b"wasmk-exit=0"),
                    reps=vm_reps,
                    timeout=120,
                ),
            ]
            if src.suffix == ".c":
                cases.append(
                    Case(
                        name,
                        "native process (gcc -O2)",
                        [str(_native_for(name, src))],
                        expect=hi,
                        reps=fast_reps,
                    )
                )
            sizes[name] = {
                "wasm": wasm.stat().st_size,
                "kvm image": kvm_img.stat().st_size,
                "kvm image --debug": debug_img.stat().st_size,
                "spt image": spt_img.stat().st_size,
                "wasmtime .cwasm": cwasm.stat().st_size,
            }

            def boots(
                m: int, img: Path = kvm_img, ctl: Path = control, want: tuple[bytes, ...] = hi
            ) -> bool:
                c = Case("", "", [], control=ctl, qemu=(img, m), expect=want)
                return _run_case(c) is None

            least[f"{name}: wasmkiln kvm"] = least_memory(boots, 1, MEMORY_MB)

        sizes["Linux VM"] = {
            "vmlinuz": vm.kernel.stat().st_size,
            "initramfs": vm.initramfs.stat().st_size,
            "wasmtime binary": wasmtime.stat().st_size,
        }
        if not args.quick:

            def vm_boots(m: int) -> bool:
                c = Case(
                    "", "", linuxvm.linuxvm_command(vm, m), expect=(b"wasmk-exit=0",), timeout=120
                )
                return _run_case(c) is None

            say("searching the Linux VM's least memory (each probe is a full boot)")
            least["hello: Linux VM + wasmtime"] = least_memory(vm_boots, 64, MEMORY_MB)

        say(f"{len(cases)} cases, accelerator TCG for every VM (PVM /dev/kvm is not used)")
        for rep in range(max(c.reps for c in cases)):
            say(f"repetition {rep + 1}")
            for case in cases:
                if rep >= case.reps:
                    continue
                problem = _run_case(case)
                if problem:  # counted and reported, not fatal: the row goes on
                    say(f"{case.program} / {case.runner}: {problem}")
                    case.failures.append(problem)

    spt = {c.program: median(c.samples) for c in cases if c.runner == "wasmkiln spt process"}
    kvm = {c.program: median(c.samples) for c in cases if c.runner.startswith("wasmkiln kvm")}
    t = Table(
        "launch to exit of hello, median ms (lower is better)",
        [
            "program",
            "runner",
            "ok/runs",
            "median ms",
            "min ms",
            "wasmkiln kvm / this",
            "wasmkiln spt / this",
        ],
        text_columns=2,
    )
    ratios: dict[str, dict[str, float | None]] = {}
    for c in cases:
        med = median(c.samples) if c.samples else None
        row = f"{c.program}: {c.runner}"
        r_kvm, r_spt = ratio(kvm.get(c.program), med), ratio(spt.get(c.program), med)
        ratios[row] = {
            "kvm/this": None if r_kvm is None else round(r_kvm, 3),
            "spt/this": None if r_spt is None else round(r_spt, 3),
        }
        t.rows.append(
            [
                c.program,
                c.runner,
                f"{len(c.samples)}/{len(c.samples) + len(c.failures)}",
                fmt(med, 1),
                fmt(min(c.samples), 1) if c.samples else "-",
                fmt(r_kvm, 2),
                fmt(r_spt, 2),
            ]
        )
    print(t.render())
    st = Table("sizes, bytes", ["program", "artifact", "bytes"], text_columns=2)
    for prog, d in sizes.items():
        for what, n in d.items():
            st.rows.append([prog, what, f"{n:,}"])
    print(st.render())
    lt = Table("least guest memory that runs hello (QEMU -m, MiB; binary search)", ["case", "MiB"])
    for what, m in least.items():
        lt.rows.append([what, "-" if m is None else str(m)])
    print(lt.render())
    failed = [c for c in cases if c.failures]
    for c in failed:
        print(f"{c.program} / {c.runner}: {len(c.failures)} failed runs: {c.failures[0]}")

    fr_rows, fr_sizes = first_response.rows(WORK, MEMORY_MB)
    first_response.measure(fr_rows, fast_reps, vm_reps)
    ft = Table(
        "launch to the first HTTP 200 (612 B page), median ms (lower is better)",
        ["runner", "ok/runs", "median ms", "min ms"],
        text_columns=1,
    )
    for r in fr_rows:
        ft.rows.append(
            [
                r.label,
                f"{len(r.samples)}/{len(r.samples) + len(r.failures)}",
                fmt(median(r.samples), 1) if r.samples else "-",
                fmt(min(r.samples), 1) if r.samples else "-",
            ]
        )
    print(ft.render())
    sizes["http-static"] = fr_sizes

    data: dict[str, Any] = {
        "script": "boot",
        "quick": args.quick,
        "machine": machine_facts(),
        "accelerator": "tcg",
        "memory_mb": MEMORY_MB,
        "linux_vm": {"kernel": vm.kernel_version, "cmd": linuxvm.linuxvm_command(vm, MEMORY_MB)},
        "ratios": ratios,
        "cases": {
            f"{c.program}: {c.runner}": {
                "median_ms": round(median(c.samples), 3) if c.samples else None,
                "samples_ms": [round(x, 3) for x in c.samples],
                "failures": c.failures,
                "cmd": c.cmd,
            }
            for c in cases
        },
        "sizes": sizes,
        "least_memory_mb": least,
        "first_response": {
            r.label: {
                "median_ms": round(median(r.samples), 3) if r.samples else None,
                "samples_ms": [round(x, 3) for x in r.samples],
                "failures": r.failures,
            }
            for r in fr_rows
        },
        "chart": {
            "title": "hello: launch to exit, median ms (log scale; VMs under TCG)",
            "ylabel": "ms",
            "log": True,
            "reference": None,
            "groups": sorted(
                {c.runner for c in cases}, key=lambda r: [c.runner for c in cases].index(r)
            ),
            "series": {
                prog: [
                    next(
                        (
                            round(median(c.samples), 3)
                            for c in cases
                            if c.program == prog and c.runner == r and c.samples
                        ),
                        None,
                    )
                    for r in sorted(
                        {c.runner for c in cases}, key=lambda r: [c.runner for c in cases].index(r)
                    )
                ]
                for prog in HELLOS
            },
        },
    }
    publish("boot", data)
    return 0


if __name__ == "__main__":
    run_script(main)
