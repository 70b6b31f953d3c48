"""The garbage fuzzer: hostile bytes into the decoder, the validator and the compiler.

`wasmkiln fuzz --garbage N` (or `python -m wasmkiln.pyhook.fuzz.garbage N`) makes N inputs from a
seed: raw random bytes, and valid modules (binaryen `-ttf` output and a few hand-made ones)
mutated by bit flips, interesting bytes, truncation, inserted/deleted runs, overlong and
oversized LEB128s, huge vector and local counts, and sections reordered, duplicated, dropped or
spliced in from another module. Each input must end in one of three ways: a clean WasmError from
decode/validate (rejected), a WasmError from the compile step (e.g. unsupported), or a successful
compile with the chosen backend. Anything else is a defect: another Python exception, a Rust
panic, a crash of the process, a hang (no answer within `timeout` seconds) or unbounded memory
(the worker runs under an address-space limit, so it shows as MemoryError or a crash).

The inputs run in a worker process (this module with `--worker`) fed through a pipe, one at a
time: the parent times each answer and restarts the worker after a hang or a crash, so one bad
input cannot stop the run. Defects are saved under the run's folder as NNNNNN.wasm + .txt.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import resource
import select
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HEADER = b"\0asm\1\0\0\0"
WORKER_MEMORY = 4 << 30  # address-space limit of the worker: "unbounded" memory fails here
INPUT_TIMEOUT = 20.0  # seconds one input may take (decode + validate + compile)
HUGE = [0xFFFFFFFF, 0x7FFFFFFF, 0x10000000, 0x100000, 65536, 65537]
INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x40, 0x60, 0x0B, 0x41, 0x10]

# Small valid modules beside binaryen's: the sections binaryen 108 does not emit (start,
# datacount, passive element segments, imported memory/table/global, declared locals).
HANDMADE = [
    HEADER,
    bytes.fromhex(  # memory, mutable global, func with locals, start, active data
        "0061736d010000000104016000000302010005030100010606017f0141070b0801000a10010e02017f017e"
        "41002100410124000b0b08010041000b026869"
    ),
    bytes.fromhex(  # imported memory/table/global, declarative elem, datacount, passive data
        "0061736d010000000105016000017f0217030165016d020001016501740170000101650167037f000302"
        "010007050101660000090501010001000c01010a0c010a00fc0900fc0d0023000b0b0401010161"
    ),
]


# ---- inputs ------------------------------------------------------------------------------------
def uleb(v: int) -> bytes:
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        if v:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sections(data: bytes) -> list[tuple[int, bytes]] | None:
    """The (id, payload) list of a module, or None when its framing is broken."""
    if data[:8] != HEADER:
        return None
    out, pos = [], 8
    while pos < len(data):
        sid = data[pos]
        size = shift = 0
        pos += 1
        while pos < len(data) and shift < 35:
            size |= (data[pos] & 0x7F) << shift
            shift += 7
            pos += 1
            if not data[pos - 1] & 0x80:
                break
        if pos + size > len(data):
            return None
        out.append((sid, data[pos : pos + size]))
        pos += size
    return out


def assemble(secs: list[tuple[int, bytes]]) -> bytes:
    return HEADER + b"".join(bytes([sid]) + uleb(len(p)) + p for sid, p in secs)


def _flip_bits(rng: random.Random, d: bytearray) -> None:
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(d))
        d[i] ^= 1 << rng.randrange(8)


def _set_bytes(rng: random.Random, d: bytearray) -> None:
    for _ in range(rng.randint(1, 4)):
        byte = rng.choice(INTERESTING) if rng.random() < 0.7 else rng.getrandbits(8)
        d[rng.randrange(len(d))] = byte


def _insert_delete(rng: random.Random, d: bytearray) -> None:
    i = rng.randrange(len(d) + 1)
    if rng.random() < 0.5:
        d[i:i] = rng.randbytes(rng.randint(1, 16))
    else:
        del d[i : i + rng.randint(1, 16)]


def _bad_leb(rng: random.Random, d: bytearray) -> None:
    """An overlong or oversized LEB128 at a random place (often a count or an immediate)."""
    i = rng.randrange(8, len(d)) if len(d) > 8 else 0
    choice = rng.randrange(4)
    if choice == 0:
        d[i:i] = b"\x80" * rng.randint(1, 12)  # continuation bytes: too long
    elif choice == 1:
        d[i : i + 1] = b"\xff" * rng.randint(4, 12) + b"\x7f"  # too long and too large
    elif choice == 2:
        high = rng.getrandbits(36) << 32 if rng.random() < 0.3 else 0  # past 32 bits too
        d[i : i + 1] = uleb(rng.choice(HUGE) | high)
    else:
        d[i : i + 1] = b"\x80\x80\x80\x80\x00"  # padded zero: the longest legal u32 form


def _mutate_sections(rng: random.Random, d: bytearray, other: bytes) -> bytearray:
    """Structure-aware changes: counts, order, duplicates, splices, local counts."""
    secs = sections(bytes(d))
    if not secs:
        _flip_bits(rng, d)
        return d
    op = rng.randrange(8)
    code = [k for k, (sid, _) in enumerate(secs) if sid == 10]
    i = code[0] if op >= 5 and code else rng.randrange(len(secs))
    sid, payload = secs[i]
    if op == 0 and payload:  # the section's leading vector count -> huge
        pos = 0
        while pos < len(payload) and payload[pos] & 0x80:
            pos += 1
        secs[i] = (sid, uleb(rng.choice(HUGE)) + payload[pos + 1 :])
    elif op == 1:
        rng.shuffle(secs)
    elif op == 2:
        secs.insert(rng.randrange(len(secs) + 1), secs[i])
    elif op == 3:
        del secs[i]
    elif op == 4:
        theirs = sections(other) or []
        if theirs:
            secs.insert(rng.randrange(len(secs) + 1), rng.choice(theirs))
    elif op == 5 and sid == 10 and len(payload) > 3:  # the first local group count -> huge
        secs[i] = (sid, _huge_locals(rng, payload))
    elif sid == 10 and len(payload) > 8:  # instructions: mostly decodable, often invalid
        body = bytearray(payload)
        for _ in range(rng.randint(1, 3)):
            body[rng.randrange(4, len(body))] = rng.getrandbits(8)
        secs[i] = (sid, bytes(body))
    else:
        secs.insert(i, (rng.choice([0, 13, 0x7F, 0xFF]), rng.randbytes(rng.randint(0, 8))))
    return bytearray(assemble(secs))


def _huge_locals(rng: random.Random, code: bytes) -> bytes:
    pos = 0
    while pos < len(code) and code[pos] & 0x80:  # function count
        pos += 1
    pos += 1
    body_size_at = pos
    while pos < len(code) and code[pos] & 0x80:  # body size
        pos += 1
    pos += 1
    groups = uleb(rng.randint(1, 3))
    for _ in range(groups[0]):
        groups += uleb(rng.choice(HUGE)) + bytes([rng.choice([0x7F, 0x7E, 0x7D, 0x7C, 0x7B])])
    rest = code[pos:]
    return code[:body_size_at] + uleb(len(groups) + len(rest)) + groups + rest


MUTATIONS = ["flip", "bytes", "truncate", "insert-delete", "leb", "sections", "sections"]


def make_input(rng: random.Random, corpus: list[bytes]) -> tuple[str, bytes]:
    """(kind, bytes) of one input: raw random or a mutated corpus module."""
    if rng.random() < 0.15:
        raw = rng.randbytes(rng.randint(0, 256))
        return ("raw", HEADER + raw if rng.random() < 0.7 else raw)
    d = bytearray(rng.choice(corpus))
    kinds = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        op = rng.randrange(7)
        if not d:
            d = bytearray(HEADER)
        if op == 0:
            _flip_bits(rng, d)
        elif op == 1:
            _set_bytes(rng, d)
        elif op == 2:
            del d[rng.randrange(len(d)) :]
        elif op == 3:
            _insert_delete(rng, d)
        elif op == 4:
            _bad_leb(rng, d)
        else:
            d = _mutate_sections(rng, d, rng.choice(corpus))
        kinds.append(MUTATIONS[op])
    return ("+".join(kinds), bytes(d))


def make_corpus(seed: int, count: int, tmp: Path) -> list[bytes]:
    """Valid modules to mutate: binaryen's from the seed, plus the hand-made ones."""
    from .differential import FuzzError, generate

    corpus = list(HANDMADE)
    for i in range(count):
        try:
            corpus.append(generate(seed, 1_000_000 + i, tmp))
        except FuzzError:
            break  # no binaryen: the hand-made modules still give structure to mutate
    return corpus


# ---- the worker ----------------------------------------------------------------------------------
def check_input(data: bytes, backend: str, blob: str) -> tuple[str, str]:
    """(verdict, detail): "STAGE ErrorClass" for a clean rejection, "compiled", or "bug" with
    a traceback tail."""
    from wasmkiln.bridge.compile import compile_wasm
    from wasmkiln.bridge.decode import decode
    from wasmkiln.bridge.errors import UnsupportedError, WasmError
    from wasmkiln.bridge.validate import validate

    stage = "decode"
    try:
        module = decode(data)
        stage = "validate"
        validate(module)
        lax = _wasmtime_rejects(data)
        if lax:
            return "bug", f"validate: accepted a module wasmtime rejects: {lax}"
        stage = "compile"
        compile_wasm(data, blob_path=blob, backend=backend, unknown_imports="embed", pic=True)
    except UnsupportedError as e:
        return f"{stage} UnsupportedError", str(e)
    except WasmError as e:  # verdict: the stage and the kind ("decode DecodeError", ...)
        if stage != "compile" and _have_wasmtime() and _wasmtime_rejects(data) is None:
            return "stricter than wasmtime", f"{type(e).__name__}: {e}"  # see run_garbage
        return f"{stage} {type(e).__name__}", str(e)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 - PanicException, MemoryError, ...: all defects
        tail = "".join(traceback.format_exception(e)[-6:])
        return "bug", f"{stage}: {type(e).__name__}: {str(e)[:500]}\n{tail}"
    return "compiled", ""


def _have_wasmtime() -> bool:
    return importlib.util.find_spec("wasmtime") is not None  # the test extra


def _wasmtime_rejects(data: bytes) -> str | None:
    """Why wasmtime's validator rejects a module ours accepted (None: it accepts it too).

    Only this direction is a defect: wasmtime (default features) accepts proposals wasmkiln
    does not implement, which ours rejects or reports as unsupported. One exception the other
    way: the legacy exception instructions (try/catch/delegate/rethrow), which wasmkiln
    validates and compiles and wasmtime's Python API cannot enable: no second opinion there."""
    if not _have_wasmtime():
        return None  # no second opinion
    import wasmtime

    try:  # a fresh engine: a cached one would be freed at exit after wasmtime's own cleanup
        wasmtime.Module.validate(wasmtime.Engine(), data)
    except wasmtime.WasmtimeError as e:
        why = str(e).splitlines()[0]
        return None if "legacy_exceptions feature required" in why else why
    return None


def worker_main(backend: str) -> int:
    """Read length-prefixed inputs on stdin, answer one JSON line each on stdout."""
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    inp, out = sys.stdin.buffer, sys.stdout
    with tempfile.TemporaryDirectory(prefix="wasmkiln-garbage-") as tmp:
        blob = str(Path(tmp) / "data.bin")
        while True:
            head = inp.read(4)
            if len(head) < 4:
                return 0
            data = inp.read(struct.unpack("<I", head)[0])
            verdict, detail = check_input(data, backend, blob)
            out.write(json.dumps({"verdict": verdict, "detail": detail}) + "\n")
            out.flush()


class Worker:
    """The parent's handle on a worker process; restarted after a hang or a crash."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self.proc is None:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "wasmkiln.pyhook.fuzz.garbage",
                    "--worker",
                    "--backend",
                    self.backend,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        return self.proc

    def check(self, data: bytes, timeout: float) -> tuple[str, str]:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(struct.pack("<I", len(data)) + data)
            proc.stdin.flush()
        except BrokenPipeError:
            return self._died()
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            return "bug", f"hang: no answer within {timeout:.0f} s"
        line = proc.stdout.readline()
        if not line:
            return self._died()
        answer = json.loads(line)
        return answer["verdict"], answer["detail"]

    def _died(self) -> tuple[str, str]:
        assert self.proc is not None
        code = self.proc.wait()
        self.proc = None
        return "bug", f"crash: the worker died (exit status {code})"

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


# ---- the run -------------------------------------------------------------------------------------
@dataclass
class GarbageTotals:
    passed: int = 0
    failed: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    slowest: float = 0.0

    def line(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"


def run_garbage(
    count: int,
    seed: int,
    backend: str = "cranelift",
    out: Path | None = None,
    corpus_size: int = 24,
    timeout: float = INPUT_TIMEOUT,
    log: Callable[[str], None] = print,
) -> GarbageTotals:
    """Feed `count` inputs; defects are saved under `out` (default fuzz-out/SEED-garbage)."""
    out = out or Path("fuzz-out") / f"{seed}-garbage"
    totals = GarbageTotals()
    rng = random.Random(f"wasmkiln-garbage:{seed}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wasmkiln-garbage-") as tmp:
        corpus = make_corpus(seed, corpus_size, Path(tmp))
    worker = Worker(backend)
    try:
        for i in range(count):
            kind, data = make_input(rng, corpus)
            t1 = time.perf_counter()
            verdict, detail = worker.check(data, timeout)
            totals.slowest = max(totals.slowest, time.perf_counter() - t1)
            totals.verdicts[verdict] += 1
            if verdict != "bug":
                totals.passed += 1
            else:
                totals.failed += 1
                out.mkdir(parents=True, exist_ok=True)
                (out / f"{i:06d}.wasm").write_bytes(data)
                (out / f"{i:06d}.txt").write_text(f"seed {seed} input {i} ({kind})\n{detail}\n")
                log(f"input {i} ({kind}): {detail.splitlines()[0]} -> {out / f'{i:06d}.wasm'}")
            if (i + 1) % 10_000 == 0:
                log(f"[{i + 1}/{count}] {totals.line()} ({time.perf_counter() - t0:.0f} s)")
    finally:
        worker.close()
    totals.seconds = time.perf_counter() - t0
    shown = ", ".join(f"{v} {n}" for v, n in sorted(totals.verdicts.items()))
    log(f"{count} inputs in {totals.seconds:.1f} s ({shown}; slowest {totals.slowest:.2f} s)")
    return totals


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m wasmkiln.pyhook.fuzz.garbage")
    p.add_argument("count", type=int, nargs="?", default=1000)
    p.add_argument("--seed", type=int)
    p.add_argument("--backend", default="cranelift", choices=["cranelift", "llvm"])
    p.add_argument("--out", type=Path)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker_main(args.backend)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"seed {seed}", flush=True)
    totals = run_garbage(
        args.count, seed, args.backend, args.out, log=lambda s: print(s, flush=True)
    )
    print(totals.line())
    return 1 if totals.failed else 0


if __name__ == "__main__":
    sys.exit(main())
