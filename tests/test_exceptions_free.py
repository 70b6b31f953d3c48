"""Exceptions are freed when no one can reach them any more (docs/abi.md "Exceptions",
core/exceptions_core.c), and only then.

Two halves, each of which a wrong design fails:
- Safety, through the spec runner on both backends (the host library, whose freed exceptions
  go to a free list that the next throw of the same size reuses at once): an exnref kept by
  `catch_ref` and thrown again after a handler without a reference took it and after 100 other
  throws, and a legacy `rethrow` of an exception that a nested handler (a legacy arm, a
  try_table `catch_all`) has taken meanwhile. Freeing there would hand back another
  exception's payload (or no tag at all): the asserted values would differ.
- Boundedness, in images: 10 million throws, in the shapes toolchains emit (try_table, a legacy
  catch arm ending, a C++ cleanup pad's `rethrow`, a catch arm throwing another exception as
  wasm longjmp does, a `br` and a `br_if` out of an arm), and 10 million exits from an arm by
  `br_table`, `br_on_null`, `br_on_non_null` and `return_call`, on spt (peak RSS of the guest
  process measured) and on kvm (a 64 MiB guest: the 320+ MB that leaking would take cannot
  fit).
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from wkcli import CLI, need_target, wasmkiln

from wasmkiln.pyhook.spec import wast

wasmtime = pytest.importorskip("wasmtime", reason="wat2wasm comes from the wasmtime package")

# $churn throws and catches 100 exceptions of the same size (a freed block comes back to it).
SAFETY = r"""
(module
  (tag $t (param i32))
  (func $throw (param i32) (throw $t (local.get 0)))
  (func $churn
    (local $i i32)
    (loop $l
      (block $h (result i32)
        (try_table (catch $t $h) (call $throw (i32.const 999)))
        (unreachable))
      (drop)
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                          (i32.const 100)))))
  (func (export "ref-later") (result i32)
    (local $e exnref)
    (block $h (result i32 exnref)
      (try_table (catch_ref $t $h) (call $throw (i32.const 7)))
      (unreachable))
    (local.set $e)
    (drop)
    ;; a handler that keeps no reference takes it: it escaped before, so it stays
    (block $h2 (result i32)
      (try_table (catch $t $h2) (throw_ref (local.get $e)))
      (unreachable))
    (drop)
    (block $h3
      (try_table (catch_all $h3) (throw_ref (local.get $e))))
    (call $churn)
    (block $h4 (result i32)
      (try_table (catch $t $h4) (throw_ref (local.get $e)))
      (unreachable)))
  (func (export "all-ref-later") (result i32)
    (local $e exnref)
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (call $throw (i32.const 8)))
      (unreachable))
    (local.set $e)
    (call $churn)
    (block $h2 (result i32)
      (try_table (catch $t $h2) (throw_ref (local.get $e)))
      (unreachable)))
  ;; legacy: the outer arm holds exception 5 while a nested arm takes it and ends
  (func (export "rethrow-after-nested-arm") (result i32)
    try (result i32)
      try
        (call $throw (i32.const 5))
      catch_all
        try
          rethrow 1
        catch_all
        end
        (call $churn)
        rethrow 0
      end
      (i32.const 0)
    catch $t
    end)
  ;; legacy: a try_table catch_all inside the arm takes it (DROP while an arm holds it)
  (func (export "rethrow-after-nested-catch") (result i32)
    (block $h (result i32)
      (try_table (catch $t $h)
        try
          (call $throw (i32.const 6))
        catch $t
          (drop)
          (block $x (try_table (catch_all $x) rethrow 2))
          (call $churn)
          rethrow 0
        end)
      (unreachable)))
  ;; legacy: a rethrow out of the arm keeps it in flight (UNHOLD never frees)
  (func (export "rethrow-out") (result i32)
    (local $r i32)
    try
      try
        (throw $t (i32.const 9))
      catch_all
        rethrow 0
      end
    catch $t
      (local.set $r)
    end
    (call $churn)
    (local.get $r))
  ;; legacy: a br_if, a br_table (one edge leaves the arm, one stays: $k) and a br_on_null
  ;; out of nested arms that hold it too; the outer arm still holds it for its rethrow
  (func (export "branches-out-of-nested-arms") (param $k i32) (result i32)
    (block $h (result i32)
      (try_table (catch $t $h)
        try
          (call $throw (i32.const 3))
        catch_all
          (block $x
            try
              rethrow 2
            catch_all
              (br_if $x (i32.const 1))
            end)
          (block $x2
            (block $in
              try
                rethrow 3
              catch_all
                (br_table $in $x2 (local.get $k))
              end))
          (block $y
            try
              rethrow 2
            catch_all
              (br_on_null $y (ref.null func))
              (drop)
            end)
          (call $churn)
          rethrow 0
        end)
      (unreachable)))
  ;; the same exception held by two arms at once, both ending normally
  (func (export "two-arms") (result i32)
    (local $r i32)
    try
      (call $throw (i32.const 4))
    catch $t
      (local.set $r)
      try
        rethrow 1
      catch $t
        (local.set $r (i32.add (local.get $r)))
      end
    end
    (call $churn)
    (local.get $r)))
(assert_return (invoke "ref-later") (i32.const 7))
(assert_return (invoke "all-ref-later") (i32.const 8))
(assert_return (invoke "rethrow-after-nested-arm") (i32.const 5))
(assert_return (invoke "rethrow-after-nested-catch") (i32.const 6))
(assert_return (invoke "rethrow-out") (i32.const 9))
(assert_return (invoke "two-arms") (i32.const 8))
(assert_return (invoke "branches-out-of-nested-arms" (i32.const 0)) (i32.const 3))
(assert_return (invoke "branches-out-of-nested-arms" (i32.const 1)) (i32.const 3))
(assert_return (invoke "ref-later") (i32.const 7))
"""


@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_no_exception_is_freed_while_reachable(backend: str, tmp_path: Path) -> None:
    script = tmp_path / "free.wast"
    script.write_text(SAFETY)
    (r,) = wast.run_scripts([script], backend=backend, workdir=tmp_path / "work")
    assert (r.failed, r.failures, r.passed) == (0, [], 10)


N = 2_000_000  # per shape; five shapes: 10 million throws

# Each shape throws the loop counter $i and leaves the payload it caught (an i32) on the stack.
SHAPES = {
    "try_table": """
      (block $h (result i32)
        (try_table (catch $t $h)
          (if (i32.and (local.get $i) (i32.const 1))
            (then (throw $t (local.get $i)))
            (else (call $throw (local.get $i)))))
        (unreachable))""",
    "legacy": """
      try (result i32)
        (call $throw (local.get $i))
        (i32.const -1)
      catch $t
      end""",
    # the cleanup pad must have run once per throw (else the payload comes out wrong)
    "cleanup": """
      (block $h (result i32)
        (try_table (catch $t $h) (call $cleanup (local.get $i)))
        (unreachable))
      (i32.add (global.get $cleanups))
      (i32.sub (i32.add (local.get $i) (i32.const 1)))""",
    "replace": """
      (block $h (result i32)
        (try_table (catch $u $h) (call $replace (local.get $i)))
        (unreachable))
      (i32.sub (i32.const 1))""",
    "branch": """
      (block $out (result i32)
        try
          (call $throw (local.get $i))
        catch $t
          (br_if $out (i32.and (local.get $i) (i32.const 1)))
          (br $out)
        end
        (i32.const -1))""",
}


# Control that leaves a legacy arm by br_table, br_on_null, br_on_non_null or a tail call
# lets go of its exception too (translate.py, exceptions.py): 2.5 million exits each.
N_EXITS = 2_500_000
EXITS = {
    # three in four leave the arm by br_table; the fourth ends it through $in
    "br_table": """
      (block $out (result i32)
        try
          (call $throw (local.get $i))
        catch $t
          (block $in (param i32) (result i32)
            (br_table $out $out $out $in (i32.and (local.get $i) (i32.const 3))))
          (br $out)
        end
        (i32.const -1))""",
    "br_on_null": """
      (block $out (result i32)
        try
          (call $throw (local.get $i))
        catch $t
          (br_on_null $out (ref.null func))
          (drop)
          (drop)
        end
        (i32.const -1))""",
    "br_on_non_null": """
      (block $out (result i32 funcref)
        try (result i32 funcref)
          (call $throw (local.get $i))
          (i32.const -1)
          (ref.null func)
        catch $t
          (br_on_non_null $out (ref.func $throw))
          (ref.null func)
        end)
      (drop)""",
    "return_call": """
      (call $tail_out (local.get $i))""",
}
EXITS_EXTRA = """
  (elem declare func $throw)
  (func $id (param i32) (result i32) (local.get 0))
  (func $tail_out (param $i i32) (result i32)
    try (result i32)
      (call $throw (local.get $i))
      (i32.const -1)
    catch $t
      (return_call $id)
    end)"""


def _shape_loop(name: str, body: str) -> str:
    """$loop_NAME(n): the sum of the payloads of n rounds of the shape (n(n-1)/2 if right)."""
    return f"""  (func $loop_{name} (param $n i32) (result i64)
    (local $i i32) (local $s i64)
    (loop $l{body}
      i64.extend_i32_u
      local.get $s
      i64.add
      local.set $s
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (local.get $s))
"""


def _check(name: str, at: int, n: int) -> str:
    size = len(name) + 1
    return f"""    (local.set $ok (i32.add (local.get $ok)
      (call $check (call $loop_{name} (i32.const {n})) (i32.const {at}) (i32.const {size}))))
"""


def _loop_wat(shapes: dict[str, str], n: int, extra: str = "") -> str:
    """_start runs each shape n times, prints its name when its sum is right, waits for stdin
    to reach its end, and exits 0 when all were right."""
    names = "".join(rf"{k}\n" for k in shapes)  # as a WAT string: \n escaped
    at = [16 + sum(len(k) + 1 for k in list(shapes)[:j]) for j in range(len(shapes))]
    return f"""(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{names}")
  (tag $t (param i32))
  (tag $u (param i32))
  (global $cleanups (mut i32) (i32.const 0))
  (func $throw (param i32) (throw $t (local.get 0)))
  ;; a C++ cleanup pad: the destructor runs, then the exception goes on
  (func $cleanup (param i32)
    try
      (call $throw (local.get 0))
    catch_all
      (global.set $cleanups (i32.add (global.get $cleanups) (i32.const 1)))
      rethrow 0
    end)
  ;; wasm longjmp passing a setjmp frame that is not its target: a new exception
  (func $replace (param i32)
    try
      (call $throw (local.get 0))
    catch $t
      (throw $u (i32.add (i32.const 1)))
    end){extra}
{"".join(_shape_loop(k, body) for k, body in shapes.items())}
  (func $say (param $at i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $check (param $sum i64) (param $at i32) (param $len i32) (result i32)
    (if (result i32) (i64.eq (local.get $sum) (i64.const {n * (n - 1) // 2}))
      (then (call $say (local.get $at) (local.get $len)) (i32.const 1))
      (else (i32.const 0))))
  (func (export "_start")
    (local $ok i32)
{"".join(_check(k, a, n) for k, a in zip(shapes, at, strict=True))}
    ;; wait for stdin to close (the spt test reads the process's peak RSS meanwhile)
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.ne (local.get $ok) (i32.const {len(shapes)})))))
"""


LOOP_WAT = _loop_wat(SHAPES, N)
EXPECTED = "".join(f"{s}\n" for s in SHAPES)
EXITS_WAT = _loop_wat(EXITS, N_EXITS, EXITS_EXTRA)
EXITS_EXPECTED = "".join(f"{s}\n" for s in EXITS)


@pytest.fixture(scope="module")
def loop_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exn-loop") / "loop.wasm"
    path.write_bytes(bytes(wasmtime.wat2wasm(LOOP_WAT)))
    return path


@pytest.fixture(scope="module")
def exits_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exn-exits") / "exits.wasm"
    path.write_bytes(bytes(wasmtime.wat2wasm(EXITS_WAT)))
    return path


def _build(module: Path, target: str, backend: str, image: Path) -> None:
    need_target(target)
    built = wasmkiln(
        "build", str(module), "--target", target, "--backend", backend, "-o", str(image)
    )
    assert built.returncode == 0, built.stderr


def _peak_rss_mib(pid: int) -> float:
    """VmHWM: the high-water mark of this process image's RSS (ru_maxrss would also count
    the pytest process it was forked from)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def _peak_rss_spt(module: Path, backend: str, tmp_path: Path, expected: str) -> float:
    """Run the loop `module` as an spt image; its peak RSS once it has printed `expected`."""
    image = tmp_path / "loop.img"
    _build(module, "x86_64-spt", backend, image)
    proc = subprocess.Popen(
        [str(image), "--die-with-parent", "--"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    watchdog = threading.Timer(300, proc.kill)  # a guest that hangs must not hang the suite
    watchdog.start()
    try:
        lines = expected.count("\n")
        out = "".join(proc.stdout.readline() for _ in range(lines))  # shorter at EOF: failed
        peak = _peak_rss_mib(proc.pid) if out == expected else 0.0
        _, err = proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
    print(f"{backend}: peak RSS {peak:.1f} MiB")
    assert (proc.returncode, out) == (0, expected), err
    return peak


@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_ten_million_throws_in_bounded_memory_spt(
    loop_module: Path, backend: str, tmp_path: Path
) -> None:
    """The spt image runs as a plain child process, so its peak RSS includes the kernel heap
    the exceptions took (leaking them: 10 million x 32+ bytes, over 300 MiB). The guest
    waits on stdin after its output, while its peak is read."""
    assert 0 < _peak_rss_spt(loop_module, backend, tmp_path, EXPECTED) < 16


@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_ten_million_arm_exits_in_bounded_memory_spt(
    exits_module: Path, backend: str, tmp_path: Path
) -> None:
    """br_table, br_on_null, br_on_non_null and return_call out of a legacy catch arm let go
    of its exception (keeping the hold leaked each one: 10 million x 32+ bytes)."""
    assert 0 < _peak_rss_spt(exits_module, backend, tmp_path, EXITS_EXPECTED) < 16


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
@pytest.mark.parametrize("which", ["throws", "arm_exits"])
def test_ten_million_in_bounded_memory_kvm(
    which: str, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A 64 MiB guest: the kernel heap there cannot hold what leaking would take."""
    module: Path = request.getfixturevalue("loop_module" if which == "throws" else "exits_module")
    expected = EXPECTED if which == "throws" else EXITS_EXPECTED
    image = tmp_path / "loop.img"
    _build(module, "x86_64-kvm", backend, image)
    ran = subprocess.run(
        [*CLI, "run", "--memory", "64", str(image)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert (ran.returncode, ran.stdout) == (0, expected), ran.stderr
