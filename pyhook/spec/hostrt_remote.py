"""The host runtime of another architecture, in a child process: the spec runner for AArch64.

A module compiled for aarch64 cannot be loaded into this (x86_64) Python. So the runtime core
is built for aarch64 Linux as a program (`unikernel/platform/host/agent_host.c`, installed as
`_runtime/aarch64-host/wasmkiln-host-agent`) that serves wk/host.h over a pipe, and runs under
QEMU's user-mode emulator (Debian: qemu-user-static, `qemu-aarch64-static -L
/usr/aarch64-linux-gnu`); the real AArch64 code of every module executes there. The classes
here subclass hostrt's, with the same methods, so pyhook/spec/wast.py drives either one. Pointers
are plain integers of the agent's address space.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..image.runtime import runtime_dir
from . import hostrt

__all__ = ["AGENT", "RemoteRuntime", "remote_runtime"]

AGENT = "wasmkiln-host-agent"
QEMU_USER = {"aarch64": ("qemu-aarch64-static", "qemu-user-static", "/usr/aarch64-linux-gnu")}
CROSS_CC = {"aarch64": "aarch64-linux-gnu-gcc"}


class RemoteRuntime:
    """The agent process: one request line, one reply line (agent_host.c's protocol)."""

    def __init__(self, arch: str) -> None:
        if arch not in QEMU_USER:
            raise hostrt.HostError(f"no host agent for {arch!r} (known: {', '.join(QEMU_USER)})")
        self.arch = arch
        root = runtime_dir()
        self.agent = root / f"{arch}-host" / AGENT
        if not self.agent.is_file():
            raise hostrt.HostError(
                f"{self.agent} is missing: it is built at install when "
                "gcc-aarch64-linux-gnu and libc6-dev-arm64-cross are "
                "installed; install them and pip install wasmkiln again"
            )
        self.include_dir = root / "include"
        self.cc = CROSS_CC[arch]
        qemu, package, self.sysroot = QEMU_USER[arch]
        if platform.machine() == arch:
            self.command = [str(self.agent)]
        elif shutil.which(qemu):
            self.command = [qemu, "-L", self.sysroot, str(self.agent)]
        else:
            raise hostrt.HostError(f"{qemu} is not installed (Debian: apt-get install {package})")
        self._proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
        return self._proc

    def call(self, *parts: object) -> list[str]:
        """Send one request; the reply's fields. HostError for an "E" reply or a dead agent
        (a crash in guest code: the next call starts a new one)."""
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        line = " ".join(f"{p:x}" if isinstance(p, int) else str(p) for p in parts)
        try:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            reply = proc.stdout.readline()
        except (BrokenPipeError, OSError):
            reply = ""
        if not reply:
            proc.kill()
            proc.wait()
            raise hostrt.HostError(f"the {self.arch} host agent died (status {proc.returncode})")
        if reply.startswith("E "):
            raise hostrt.HostError(reply[2:].strip())
        return reply.split()

    def number(self, *parts: object) -> int:
        return int(self.call(*parts)[0], 16)

    def last_error(self) -> str:
        try:
            self.call("E")
        except hostrt.HostError as e:
            return str(e)
        return ""

    def set_stack_depth(self, nbytes: int) -> None:
        self.call("D", nbytes)

    def store(self) -> RemoteStore:
        return RemoteStore(self)

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait()


# ---- handles: the agent's pointers ---------------------------------------------------------
def _nonnull(ptr: int, what: str) -> int:
    if ptr == 0:
        raise hostrt.HostError(f"the instance has no such {what}")
    return ptr


class RemoteFunc(hostrt.Func):
    @property
    def address(self) -> int:
        return int(self.ptr)


class RemoteTag(hostrt.Tag):
    @property
    def address(self) -> int:
        return int(self.ptr)


class RemoteMemory(hostrt.Memory):
    @property
    def address(self) -> int:
        return int(self.ptr)

    @property
    def pages(self) -> int:
        return self._rt.number("p", self.ptr)  # type: ignore[attr-defined]


class RemoteTable(hostrt.Table):
    @property
    def address(self) -> int:
        return int(self.ptr)

    @property
    def size(self) -> int:
        return self._rt.number("s", self.ptr)  # type: ignore[attr-defined]


class RemoteGlobal(hostrt.Global):
    @property
    def address(self) -> int:
        return int(self.ptr)

    @property
    def bits(self) -> int:
        return self._rt.number("r", self.ptr)  # type: ignore[attr-defined]

    @bits.setter
    def bits(self, value: int) -> None:
        self._rt.call("w", self.ptr, value & 0xFFFFFFFFFFFFFFFF)  # type: ignore[attr-defined]


class RemoteModule(hostrt.LoadedModule):
    def __init__(self, rt: RemoteRuntime, path: Path) -> None:
        handle, desc = rt.call("L", path)
        self.lib = int(handle, 16)
        self.descriptor = int(desc, 16)
        self.path = path


class RemoteInstance(hostrt.Instance):
    _rt: RemoteRuntime  # type: ignore[assignment]

    def initialize(self) -> int:
        return self._rt.number("Z", self.ptr)

    def invoke(
        self,
        func: int,
        args: Sequence[int],
        nresults: int,
        param_types: Sequence[int] | None = None,
        result_types: Sequence[int] | None = None,
    ) -> tuple[int, list[int]]:
        """hostrt.Instance.invoke through the agent, whose wire carries the same slots."""
        slots, rtypes = hostrt.pack_slots(args, nresults, param_types, result_types)
        code, *out = self._rt.call("V", self.ptr, func, len(slots), *slots)
        return int(code, 16), hostrt.unpack_slots([int(x, 16) for x in out], rtypes)

    def _get(self, op: str, what: str, *index: int) -> int:
        return _nonnull(self._rt.number(op, self.ptr, *index), what)

    def func(self, index: int) -> hostrt.Func:
        return RemoteFunc(self._rt, self._get("f", "func", index))  # type: ignore[arg-type]

    def memory(self, index: int = 0) -> hostrt.Memory:
        return RemoteMemory(self._rt, self._get("m", "memory", index))  # type: ignore[arg-type]

    def table(self, index: int) -> hostrt.Table:
        return RemoteTable(self._rt, self._get("t", "table", index))  # type: ignore[arg-type]

    def global_(self, index: int) -> hostrt.Global:
        return RemoteGlobal(self._rt, self._get("g", "global", index))  # type: ignore[arg-type]

    def tag(self, index: int) -> hostrt.Tag:
        return RemoteTag(self._rt, self._get("e", "tag", index))  # type: ignore[arg-type]


class RemoteStore(hostrt.Store):
    """Owns what it made in the agent; close() frees it there, instances first."""

    def __init__(self, rt: RemoteRuntime) -> None:
        self._remote = rt
        self._instances: list[int] = []
        self._frees: list[tuple[str, int]] = []
        self._modules: dict[Path, RemoteModule] = {}  # type: ignore[assignment]

    def load(self, path: Path) -> hostrt.LoadedModule:
        mod = self._modules.get(path)
        if mod is None:
            mod = self._modules[path] = RemoteModule(self._remote, path)
        return mod

    def instantiate(
        self, module: hostrt.LoadedModule, imports: Sequence[hostrt._Handle]
    ) -> hostrt.Instance:
        ptrs = [int(i.ptr) for i in imports]
        ptr = self._remote.number("I", module.descriptor, len(ptrs), *ptrs)
        self._instances.append(ptr)
        return RemoteInstance(self._remote, ptr, module)  # type: ignore[arg-type]

    def _own(self, free: str, ptr: int) -> int:
        if ptr == 0:
            raise hostrt.HostError(self._remote.last_error() or "out of memory")
        self._frees.append((free, ptr))
        return ptr

    def memory(self, min_pages: int, max_pages: int, is64: bool = False) -> hostrt.Memory:
        ptr = self._own("n", self._remote.number("N", min_pages, max_pages, int(is64)))
        return RemoteMemory(self._remote, ptr)  # type: ignore[arg-type]

    def table(self, min_size: int, max_size: int, elem_type: int) -> hostrt.Table:
        ptr = self._own("U", self._remote.number("T", min_size, max_size, elem_type))
        return RemoteTable(self._remote, ptr)  # type: ignore[arg-type]

    def global_(self, bits: int) -> hostrt.Global:
        ptr = self._own("H", self._remote.number("G", bits & 0xFFFFFFFFFFFFFFFF))
        return RemoteGlobal(self._remote, ptr)  # type: ignore[arg-type]

    def spectest_func(self, name: str) -> hostrt.Func:
        ptr = self._remote.number("S", name)
        if ptr == 0:
            raise hostrt.HostError(f"spectest has no function {name!r}")
        return RemoteFunc(self._remote, ptr)  # type: ignore[arg-type]

    def close(self) -> None:
        try:
            for ptr in reversed(self._instances):
                self._remote.call("F", ptr)
            for free, ptr in reversed(self._frees):
                self._remote.call(free, ptr)
            for mod in self._modules.values():
                self._remote.call("C", mod.lib)
        except hostrt.HostError:
            pass  # the agent died: its process took everything with it
        self._instances, self._frees, self._modules = [], [], {}


_RUNTIMES: dict[str, RemoteRuntime] = {}


def remote_runtime(arch: str) -> RemoteRuntime:
    """The agent for `arch`, one per process."""
    if arch not in _RUNTIMES:
        _RUNTIMES[arch] = RemoteRuntime(arch)
    return _RUNTIMES[arch]
