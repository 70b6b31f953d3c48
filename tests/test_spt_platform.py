"""The spt platform, runtime core and first WASI layer, without the compiler.

tests/spt_platform/module_spt_test.c is a hand-written "compiled module" (ABI
functions + a `wk_module_main` descriptor). It is linked exactly as the tool
links an image: target.json's ldflags, then the whole libwasmkiln-x86_64-spt.a.
The library is built with CMake + ninja into a temporary folder; if the
top-level build fails (another platform mid-work), a scratch CMake project with
only core/, wasi/ and platform/spt/ is used instead.
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIKERNEL = ROOT / "unikernel"
SPT_DIR = UNIKERNEL / "platform" / "spt"
TEST_SRC = ROOT / "tests" / "spt_platform" / "module_spt_test.c"
LIB = "libwasmkiln-x86_64-spt.a"

pytestmark = [
    pytest.mark.skipif(
        platform.system() != "Linux" or platform.machine() != "x86_64",
        reason="the spt platform is a Linux x86_64 process",
    ),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("gcc", "cmake", "ninja")),
        reason="needs gcc, cmake and ninja on PATH",
    ),
]

_SCRATCH = """cmake_minimum_required(VERSION 3.20)
project(wk_spt_scratch C ASM)
set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS OFF)
{flags}
function(wk_layer name)
  target_compile_options(${{name}} PRIVATE ${{WK_FREESTANDING_FLAGS}})
  target_include_directories(${{name}} PRIVATE {include})
endfunction()
add_subdirectory({uk}/core core)
add_subdirectory({uk}/wasi wasi)
add_subdirectory({uk}/platform/spt spt)
add_library(wasmkiln-x86_64-spt STATIC
  $<TARGET_OBJECTS:wk_core> $<TARGET_OBJECTS:wk_wasi> $<TARGET_OBJECTS:wk_plat_spt>)
"""


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _cmake_build(src: Path, build: Path) -> subprocess.CompletedProcess[str]:
    r = _run(["cmake", "-S", str(src), "-B", str(build), "-G", "Ninja"])
    if r.returncode == 0:
        r = _run(["ninja", "-C", str(build), "wasmkiln-x86_64-spt"])
    return r


@pytest.fixture(scope="session")
def spt_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the built libwasmkiln-x86_64-spt.a."""
    build = tmp_path_factory.mktemp("sptbuild")
    r = _cmake_build(ROOT, build)
    if r.returncode == 0:
        return next(build.rglob(LIB))
    # Fall back to a project with only our layers, same flags as unikernel/CMakeLists.txt.
    layering = (UNIKERNEL / "CMakeLists.txt").read_text()
    flags = re.search(r"set\(WK_FREESTANDING_FLAGS.*?\)", layering, re.S)
    assert flags, "WK_FREESTANDING_FLAGS not found in unikernel/CMakeLists.txt"
    scratch = tmp_path_factory.mktemp("sptscratch")
    (scratch / "CMakeLists.txt").write_text(
        _SCRATCH.format(flags=flags.group(0), include=UNIKERNEL / "include", uk=UNIKERNEL)
    )
    r2 = _cmake_build(scratch, scratch / "build")
    assert r2.returncode == 0, f"spt build failed:\n{r.stdout}{r.stderr}\n{r2.stdout}{r2.stderr}"
    return next((scratch / "build").rglob(LIB))


def _ldflags() -> list[str]:
    spec = json.loads((SPT_DIR / "target.json").read_text())
    assert spec["triple"] == "x86_64-spt"
    return [f.replace("{dir}", str(SPT_DIR)) for f in spec["ldflags"]]


@pytest.fixture(scope="session")
def image(spt_lib: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``image(variant)`` -> a linked spt image of the test module ("" = normal)."""
    out = tmp_path_factory.mktemp("images")
    cache: dict[str, Path] = {}

    def build(variant: str = "") -> Path:
        if variant in cache:
            return cache[variant]
        obj = out / f"module{variant}.o"
        exe = out / f"module{variant}.img"
        defines = [f"-DWK_TEST_{variant}"] if variant else []
        cc = [
            "gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-ffreestanding",
            "-fno-pie", "-fno-stack-protector", f"-I{UNIKERNEL / 'include'}", *defines,
            "-c", str(TEST_SRC), "-o", str(obj),
        ]  # fmt: skip
        r = _run(cc)
        assert r.returncode == 0, r.stderr
        link = [
            "gcc", *_ldflags(), str(obj), "-Wl,--whole-archive", str(spt_lib),
            "-Wl,--no-whole-archive", "-o", str(exe),
        ]  # fmt: skip
        r = _run(link)
        assert r.returncode == 0, r.stderr
        cache[variant] = exe
        return exe

    return build


def run_image(exe: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(exe), *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def _oks(out: str) -> int:
    return sum(line.startswith("ok ") for line in out.splitlines())


# ---- the hand-written module runs ------------------------------------------------


def test_hello_args_env_and_proc_exit(image: Callable[[str], Path]) -> None:
    exe = image("")
    r = run_image(exe, "--env", "A=1", "--env=B=two words", "--", "x", "--env")
    assert r.returncode == 42, r.stderr
    assert r.stdout == (
        "hello from module\n"
        f"arg: {exe.name}\narg: x\narg: --env\n"
        "env: A=1\nenv: B=two words\n"
        "argc=3\n"
    )
    assert r.stderr == ""


def test_no_args_no_env(image: Callable[[str], Path]) -> None:
    r = run_image(image(""))
    assert r.returncode == 42
    assert "env:" not in r.stdout and "argc=1\n" in r.stdout


def test_trap_message_and_exit_134(image: Callable[[str], Path]) -> None:
    r = run_image(image(""), "trap")
    assert r.returncode == 134
    assert r.stdout == "dividing by zero\n"
    assert r.stderr == "wasm trap: integer divide by zero\n"


def test_start_returning_exits_0(image: Callable[[str], Path]) -> None:
    r = run_image(image(""), "return")
    assert (r.returncode, r.stdout) == (0, "returning\n")


def test_memory_builtins(image: Callable[[str], Path]) -> None:
    r = run_image(image(""), "builtins")
    assert "FAIL" not in r.stdout, r.stdout
    assert _oks(r.stdout) == 15
    # The last step uses a dropped segment: memory.init traps.
    assert r.returncode == 134
    assert r.stderr == "wasm trap: out of bounds memory access\n"


def test_memory_fill_out_of_bounds_traps(image: Callable[[str], Path]) -> None:
    r = run_image(image(""), "oob")
    assert r.returncode == 134
    assert r.stderr == "wasm trap: out of bounds memory access\n"


def test_bad_guest_pointers_are_efault(image: Callable[[str], Path]) -> None:
    r = run_image(image(""), "efault")
    assert r.returncode == 42, r.stderr
    assert "FAIL" not in r.stdout, r.stdout
    assert _oks(r.stdout) == 7


def test_wasi_calls(image: Callable[[str], Path]) -> None:
    r = run_image(image(""), "wasi")
    assert r.returncode == 42, r.stderr
    assert "FAIL" not in r.stdout, r.stdout
    assert _oks(r.stdout) == 20


def test_stdin_roundtrip(image: Callable[[str], Path]) -> None:
    text = "line one\nline two, a bit longer than seven bytes\n" * 50
    r = run_image(image(""), "cat", stdin=text)
    assert (r.returncode, r.stdout) == (0, text)


# ---- instantiation failures ----------------------------------------------------


def test_no_start_export(image: Callable[[str], Path]) -> None:
    r = run_image(image("NO_START"))
    assert r.returncode == 1
    assert "module has no _start export" in r.stderr
    assert r.stdout == ""


def test_data_segment_out_of_range_traps_at_instantiation(image: Callable[[str], Path]) -> None:
    r = run_image(image("BAD_DATA"))
    assert r.returncode == 134
    assert r.stderr == "wasm trap: out of bounds memory access\n"
    assert r.stdout == ""


def test_abi_version_mismatch_is_refused(image: Callable[[str], Path]) -> None:
    r = run_image(image("BAD_ABI"))
    assert r.returncode == 1
    assert "ABI version" in r.stderr


def test_bad_command_line(image: Callable[[str], Path]) -> None:
    r = run_image(image(""), "--env")
    assert r.returncode == 2
    assert "usage:" in r.stderr
    r = run_image(image(""), "--env", "NOEQUALS")
    assert r.returncode == 2


# ---- the sandbox ---------------------------------------------------------------


@pytest.mark.parametrize("call", ["getpid", "openat", "write3", "read1", "mmap", "mprotect-exec"])
def test_forbidden_syscall_is_killed_with_sigsys(image: Callable[[str], Path], call: str) -> None:
    r = run_image(image(""), f"forbid-{call}")
    assert r.stdout == "before\n", "writing to fd 1 must still work under the filter"
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stderr)


def _host_listener() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def run_host_net(
    exe: Path, lsock: socket.socket, *args: str, outbound: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run with the host's sockets (--net host), lsock granted as the one listener, and with
    `outbound` the grant to reach out (--net outbound)."""
    fd = lsock.fileno()
    argv = [
        str(exe),
        "--net",
        "host",
        "--net",
        "net.publish=0.0.0.0:80",
        "--net",
        f"hostfd={fd}",
        *(["--net", "outbound"] if outbound else []),
        "--",
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, pass_fds=(fd,))


@pytest.mark.parametrize(
    "call",
    [
        "socket",
        "bind",
        "listen",
        "connect",
        "accept4-0",
        "sendto-dest",
        "setsockopt-other",
        "openat",
        "getpid",
        "mmap",
    ],
)
def test_host_sockets_grant_nothing_else(image: Callable[[str], Path], call: str) -> None:
    """With the host's sockets, the guest may accept on its listeners and use what it
    accepted; it still cannot make a socket, bind, listen, connect, send to an address, set
    other options, or open a file: SIGSYS."""
    with _host_listener() as lsock:
        r = run_host_net(image(""), lsock, f"forbid-{call}")
    assert r.stdout == "before\n", r.stderr
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stderr)


@pytest.mark.parametrize(
    "call",
    ["socket", "socket-packet", "socket-raw", "bind", "listen", "accept4-0", "openat", "getpid"],
)
def test_outbound_grant_grants_nothing_else(image: Callable[[str], Path], call: str) -> None:
    """With the grant to reach out (--net outbound) the guest may make AF_INET/AF_INET6
    stream and datagram sockets (non-blocking, close-on-exec) and connect or send anywhere;
    it still cannot make another kind of socket (a packet or raw one, or one without those
    flags), bind, listen, accept on anything but its listeners, or open a file: SIGSYS."""
    with _host_listener() as lsock:
        r = run_host_net(image(""), lsock, f"forbid-{call}", outbound=True)
    assert r.stdout == "before\n", r.stderr
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stderr)


def test_outbound_grant_connects_and_sends(image: Callable[[str], Path]) -> None:
    """The same raw socket()+connect() and socket()+sendto(addr) that are killed without the
    grant (test_host_sockets_grant_nothing_else) pass with it, and reach the host."""
    with _host_listener() as lsock, _host_listener() as target:
        r = run_host_net(
            image(""), lsock, "outbound", "tcp", str(target.getsockname()[1]), outbound=True
        )
        assert r.returncode == 0, (r.returncode, r.stderr)
        lines = r.stdout.splitlines()
        assert lines[0].startswith("socket ") and int(lines[0].split()[1]) >= 3, r.stdout
        assert lines[1] in ("send/connect 0", "send/connect -115"), r.stdout  # EINPROGRESS
        target.settimeout(10)
        conn, _ = target.accept()  # the connection the guest started
        conn.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            u.settimeout(10)
            r = run_host_net(
                image(""), lsock, "outbound", "udp", str(u.getsockname()[1]), outbound=True
            )
            assert (r.returncode, r.stdout.splitlines()[1:]) == (0, ["send/connect 1"]), r
            assert u.recvfrom(16)[0] == b"x"


def test_host_sockets_accept_on_the_granted_listener(image: Callable[[str], Path]) -> None:
    """accept4 on the granted listener passes the filter (EAGAIN: nobody is waiting; then a
    real connection), and on any other descriptor it is killed (above)."""
    with _host_listener() as lsock:
        r = run_host_net(image(""), lsock, "accept", str(lsock.fileno()))
        assert (r.returncode, r.stdout) == (0, "accept4 -11\n"), r.stderr
        with socket.create_connection(lsock.getsockname(), timeout=10):
            r = run_host_net(image(""), lsock, "accept", str(lsock.fileno()))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("accept4 ") and int(r.stdout.split()[1]) >= 3, r.stdout


def test_host_sockets_bad_command_lines(image: Callable[[str], Path]) -> None:
    with _host_listener() as lsock:
        fd = lsock.fileno()
        for argv, why in (
            (["--net", "host", "--net", "net.publish=0.0.0.0:80"], "one hostfd=N per"),
            (["--net", f"hostfd={fd}"], "needs --net host"),
            (["--net", "outbound"], "outbound needs --net host"),
            (
                [
                    "--net",
                    "host",
                    "--net",
                    "fd=7",
                    "--net",
                    "net.publish=0.0.0.0:80",
                    "--net",
                    f"hostfd={fd}",
                ],
                "takes no fd=",
            ),
        ):
            r = subprocess.run(
                [str(image("")), *argv], capture_output=True, text=True, timeout=60, pass_fds=(fd,)
            )
            assert r.returncode == 2 and why in r.stderr, (argv, r.stderr)


def test_image_is_static_and_needs_no_interpreter(image: Callable[[str], Path]) -> None:
    data = image("").read_bytes()
    assert data[:4] == b"\x7fELF"
    assert b"/lib64/ld-linux" not in data
