"""`.wast` scripts to the runner's JSON form, without WABT: modules through `wasmtime.wat2wasm`.

WABT's `wast2json` (1.0.32 here) cannot read WebAssembly 3.0 text (memory indices on lane
accesses, relaxed SIMD, ...), while the `wasmtime` package's `wat2wasm` parses every module
text. A script is S-expressions around those modules, so this module reads the S-expressions
itself and writes what `wast2json` would: `NAME.json` (commands with the same keys: `module`,
`register`, `action`, `assert_*`, values as `{"type", "value"}` or, for v128,
`{"type": "v128", "lane_type", "value": [lanes]}`) next to `NAME.N.wasm`. pyhook/spec/wast.py runs
that as any other script.

- Modules: `(module ...)` is handed to wat2wasm as written (WABT's `wat2wasm`, where installed,
  when wasmtime's cannot read it: the legacy exception instructions, `wabt_wat2wasm`);
  `(module binary "...")` is its bytes; `(module quote "...")` stays text (module_type "text":
  the runner counts an `assert_malformed` of it as skipped, "text format", as for wast2json
  scripts). A module whose text wat2wasm rejects fails its command with wat2wasm's message.
- Numbers: integers are read here (WAT syntax: sign, `0x`, `_`); float literals (decimal, hex,
  `inf`, `nan:0x...`) are written into one throwaway module per script and read back from
  wat2wasm's encoding, so their rounding is wasmtime's parser's, exact.
- `(either v1 v2 ...)` results (relaxed SIMD) become `{"type": "either", "values": [...]}`.
- `(module definition ...)` becomes a `module` command with `"definition": true` (compiled,
  not instantiated).
- `(assert_exception (invoke ...))` becomes {"type": "assert_exception", "action"}.
- Anything else (threads, module instances) is written as an unknown command, which the
  runner reports as a failure rather than skipping silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Json = dict[str, Any]

_LANES = {
    "i8x16": ("i8", 16),
    "i16x8": ("i16", 8),
    "i32x4": ("i32", 4),
    "i64x2": ("i64", 2),
    "f32x4": ("f32", 4),
    "f64x2": ("f64", 2),
}
_WIDTH = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "f32": 32, "f64": 64}
_NAN_PATTERNS = ("nan:canonical", "nan:arithmetic")


class WastError(ValueError):
    """The script itself cannot be read (unbalanced parentheses, a bad string); says where."""


# ---- S-expressions ------------------------------------------------------------------------------
@dataclass
class Atom:
    text: str
    start: int
    string: bool = False  # a "..." literal; text holds the raw bytes decoded as latin-1


@dataclass
class SList:
    items: list[Atom | SList]
    start: int
    end: int  # offset just past the closing parenthesis

    def head(self) -> str:
        first = self.items[0] if self.items else None
        return first.text if isinstance(first, Atom) and not first.string else ""


# Heads that make a script one module written without `(module ...)` (inline-module.wast).
_MODULE_FIELDS = frozenset(
    "type rec import func table memory global export start elem data tag".split()
)

_ATOM_END = re.compile(r'[\s()";]')


def parse(text: str) -> list[SList]:
    """The top-level lists of a script, with their source offsets."""
    stack: list[SList] = []
    top: list[SList] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith(";;", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif text.startswith("(;", i):
            i = _block_comment(text, i)
        elif c == "(":
            stack.append(SList([], i, i))
            i += 1
        elif c == ")":
            if not stack:
                raise WastError(f"line {line_of(text, i)}: unbalanced ')'")
            lst = stack.pop()
            lst.end = i + 1
            if lst.head().startswith("@"):  # an annotation: no meaning to the script
                pass
            elif stack:
                stack[-1].items.append(lst)
            else:
                top.append(lst)
            i += 1
        elif c == '"':
            value, j = _string(text, i)
            if not stack:
                raise WastError(f"line {line_of(text, i)}: a string outside any command")
            stack[-1].items.append(Atom(value, i, string=True))
            i = j
        else:
            m = _ATOM_END.search(text, i)
            j = m.start() if m else n
            if j == i:  # a lone ';' (not a comment: annotations hold any token): an atom
                j = i + 1
            if not stack:
                raise WastError(f"line {line_of(text, i)}: {text[i:j]!r} outside any command")
            stack[-1].items.append(Atom(text[i:j], i))
            i = j
    if stack:
        raise WastError(f"line {line_of(text, stack[-1].start)}: unclosed '('")
    return top


def _block_comment(text: str, i: int) -> int:
    depth = 0
    while i < len(text):
        if text.startswith("(;", i):
            depth += 1
            i += 2
        elif text.startswith(";)", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise WastError(f"line {line_of(text, i)}: unclosed block comment")


_ESCAPES = {"n": 10, "t": 9, "r": 13, '"': 34, "'": 39, "\\": 92}


def _string(text: str, i: int) -> tuple[str, int]:
    """A string literal at text[i] == '"': its bytes (as latin-1 text) and the end offset."""
    out = bytearray()
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == '"':
            return out.decode("latin-1"), j + 1
        if c == "\\":
            e = text[j + 1 : j + 2]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                j += 2
            elif e == "u":
                close = text.index("}", j)
                out += chr(int(text[j + 3 : close].replace("_", ""), 16)).encode()
                j = close + 1
            else:
                out.append(int(text[j + 1 : j + 3], 16))
                j += 3
        else:
            out += c.encode()
            j += 1
    raise WastError(f"line {line_of(text, i)}: unterminated string")


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# ---- numbers ------------------------------------------------------------------------------------
def wat_int(text: str, width: int) -> int:
    """A WAT integer literal (sign, 0x, underscores) as unsigned bits of `width`."""
    t = text.replace("_", "")
    sign = -1 if t.startswith("-") else 1
    t = t.lstrip("+-")
    value = int(t[2:], 16) if t[:2].lower() == "0x" else int(t, 10)
    return (sign * value) & ((1 << width) - 1)


class _Floats:
    """Float literals of one script, resolved together through wat2wasm (exact rounding)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []  # (f32|f64, literal)
        self.bits: list[int] = []

    def add(self, ty: str, literal: str) -> int:
        self.items.append((ty, literal))
        return len(self.items) - 1

    def resolve(self, wat2wasm: Any) -> None:
        if not self.items:
            return
        from wasmkiln.bridge.decode import decode

        body = " ".join(f"({ty}.const {lit}) drop" for ty, lit in self.items)
        module = decode(wat2wasm(f"(module (func {body}))"))
        self.bits = [ins[1] for ins in module.funcs[0].body if ins[0] in ("f32.const", "f64.const")]


# ---- commands -----------------------------------------------------------------------------------
class _Converter:
    def __init__(self, path: Path, out_dir: Path) -> None:
        import wasmtime

        self.wat2wasm = wasmtime.wat2wasm
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        self.out_dir = out_dir
        self.stem = path.stem
        self.count = 0
        self.floats = _Floats()
        self.pending: list[tuple[Json, str, int]] = []  # (value dict, key, float index)

    def line(self, node: SList | Atom) -> int:
        return line_of(self.text, node.start)

    def run(self) -> Path:
        commands = []
        nodes = parse(self.text)
        if nodes and nodes[0].head() in _MODULE_FIELDS:  # the script is one inline module
            commands.append({"type": "module", "line": 1, **self.module_quote([Atom("", 0)])})
            nodes = []
        for node in nodes:
            try:
                commands.append(self.command(node))
            except (IndexError, KeyError, ValueError) as e:
                if isinstance(e, WastError):
                    raise
                raise WastError(
                    f"line {self.line(node)}: cannot read this command ({type(e).__name__}: {e})"
                ) from None
        self.floats.resolve(self.wat2wasm)
        for value, key, index in self.pending:
            bits = self.floats.bits[index]
            if key == "value":
                value["value"] = str(bits)
            else:
                value["value"][int(key)] = str(bits)
        out = self.out_dir / f"{self.stem}.json"
        script = {"source_filename": str(self.path), "wasm_version": 3, "commands": commands}
        out.write_text(json.dumps(script))
        return out

    def command(self, node: SList) -> Json:
        head = node.head()
        line = self.line(node)
        items = node.items
        if head == "module":
            return {"type": "module", "line": line, **self.module(node)}
        if head == "register":
            cmd: Json = {"type": "register", "line": line, "as": _name(items[1])}
            if len(items) > 2:
                cmd["name"] = _text(items[2])
            return cmd
        if head in ("invoke", "get"):
            return {"type": "action", "line": line, "action": self.action(node), "expected": []}
        if head == "assert_return":
            return {
                "type": "assert_return",
                "line": line,
                "action": self.action(items[1]),
                "expected": [self.value(v) for v in items[2:]],
            }
        if head == "assert_exception":
            return {"type": head, "line": line, "action": self.action(items[1])}
        if head in ("assert_trap", "assert_exhaustion") and _is(items[1], "module"):
            return {
                "type": "assert_uninstantiable",
                "line": self.line(items[1]),
                **self.module(items[1]),
                "text": _text(items[2]),
            }
        if head in ("assert_trap", "assert_exhaustion"):
            return {
                "type": head,
                "line": line,
                "action": self.action(items[1]),
                "text": _text(items[2]),
            }
        if head in (
            "assert_invalid",
            "assert_malformed",
            "assert_unlinkable",
            "assert_uninstantiable",
        ):
            return {
                "type": head,
                "line": self.line(items[1]),  # the module's, as wast2json
                **self.module(items[1], rejected=True),
                "text": _text(items[2]) if len(items) > 2 else "",
            }
        return {"type": head or "?", "line": line}

    def module(self, node: SList | Atom, rejected: bool = False) -> Json:
        """A module's file (and name): binary written, text converted, quote left as text."""
        assert isinstance(node, SList)
        items = node.items[1:]
        name = None
        if items and isinstance(items[0], Atom) and _text(items[0]).startswith("$"):
            name = _text(items[0])
            items = items[1:]
        kind = (
            _text(items[0]) if items and isinstance(items[0], Atom) and not items[0].string else ""
        )
        out: Json = {"name": name} if name else {}
        if kind == "quote" and rejected:  # assert_malformed and friends: the runner reads it
            quoted = "".join(_text(i) for i in items[1:])
            out.update(filename=self._file("wat", quoted.encode("latin-1")), module_type="text")
            return out
        text = self.text[node.start : node.end]
        if kind == "instance":  # (module instance $I? $M?): instantiate a definition
            names = [_text(i) for i in items[1:3] if isinstance(i, Atom) and not i.string]
            out = {"instance": True}
            if len(names) == 2:
                out.update(name=names[0], definition_name=names[1])
            elif names:
                out["name"] = names[0]
            return out
        if kind == "definition":  # compiled, not instantiated (runner: "definition")
            out["definition"] = True
            at = node.items[1 if name is None else 2].start  # the word "definition" in text
            text = self.text[node.start : at] + self.text[at + len("definition") : node.end]
            items = items[1:]
            if items and isinstance(items[0], Atom) and _text(items[0]).startswith("$"):
                out["name"] = _text(items[0])  # (module definition $M ...)
                items = items[1:]
            kind = (
                _text(items[0])
                if items and isinstance(items[0], Atom) and not items[0].string
                else ""
            )
        if kind == "quote" and not rejected:
            return {**out, **self.module_quote(items)}
        if kind == "binary":
            data = "".join(_text(i) for i in items[1:]).encode("latin-1")
        else:
            try:
                data = bytes(self.wat2wasm(text))
            except Exception as e:  # noqa: BLE001 - wasmtime raises its own error types
                legacy = None if rejected else wabt_wat2wasm(text)
                if legacy is not None:
                    out.update(filename=self._file("wasm", legacy), module_type="binary")
                    return out
                if rejected:  # a text error where a binary one was meant: like wast2json
                    out.update(
                        filename=self._file("wat", self.text[node.start : node.end].encode()),
                        module_type="text",
                    )
                else:
                    out["error"] = f"wat2wasm: {str(e).splitlines()[0]}"
                return out
        out.update(filename=self._file("wasm", data), module_type="binary")
        return out

    def module_quote(self, items: list[Atom | SList]) -> Json:
        """A valid module written as quoted text (its fields, or a whole module): binary.
        Without strings (an inline module), the whole script is the module's text."""
        try:
            if items[1:]:  # string atoms hold bytes as latin-1 text
                text = "".join(_text(i) for i in items[1:]).encode("latin-1").decode("utf-8")
            else:
                text = self.text
            data = bytes(self.wat2wasm(text))
        except Exception as e:  # noqa: BLE001 - wasmtime raises its own error types
            return {"error": f"wat2wasm: {str(e).splitlines()[0]}"}
        return {"filename": self._file("wasm", data), "module_type": "binary"}

    def _file(self, ext: str, data: bytes) -> str:
        name = f"{self.stem}.{self.count}.{ext}"
        self.count += 1
        (self.out_dir / name).write_bytes(data)
        return name

    def action(self, node: SList | Atom) -> Json:
        assert isinstance(node, SList)
        items = node.items[1:]
        act: Json = {"type": node.head()}
        if items and isinstance(items[0], Atom) and not items[0].string:
            act["module"] = _text(items[0])
            items = items[1:]
        act["field"] = _name(items[0])
        if act["type"] == "invoke":
            act["args"] = [self.value(v) for v in items[1:]]
        return act

    def value(self, node: SList | Atom) -> Json:
        assert isinstance(node, SList)
        head = node.head()
        args = [a.text for a in node.items[1:] if isinstance(a, Atom)]
        if head == "either":
            return {"type": "either", "values": [self.value(v) for v in node.items[1:]]}
        if head in ("i32.const", "i64.const"):
            return {"type": head[:3], "value": str(wat_int(args[0], _WIDTH[head[:3]]))}
        if head in ("f32.const", "f64.const"):
            return self._float({"type": head[:3]}, "value", head[:3], args[0])
        if head == "v128.const":
            lane, n = _LANES[args[0]]
            v: Json = {"type": "v128", "lane_type": lane, "value": [""] * n}
            for i, lit in enumerate(args[1 : 1 + n]):
                if lane[0] == "f":
                    self._float(v, str(i), lane, lit)
                else:
                    v["value"][i] = str(wat_int(lit, _WIDTH[lane]))
            return v
        if head == "ref.null":
            ty = args[0] if args else "func"
            kind = {"extern": "externref", "noextern": "externref", "exn": "exnref"}
            return {"type": kind.get(ty, "exnref" if ty == "noexn" else "funcref"), "value": "null"}
        if head == "ref.extern":
            return {"type": "externref", **({"value": args[0]} if args else {})}
        if head == "ref.func":
            return {"type": "funcref"}
        return {"type": head or "?"}

    def _float(self, v: Json, key: str, ty: str, literal: str) -> Json:
        if literal in _NAN_PATTERNS:
            if key == "value":
                v["value"] = literal
            else:
                v["value"][int(key)] = literal
        else:
            self.pending.append((v, key, self.floats.add(ty, literal)))
        return v


def wabt_wat2wasm(text: str) -> bytes | None:
    """A module text through WABT's `wat2wasm --enable-all`, or None (no WABT, or it failed).

    Only for what the wasmtime package's parser does not read: the legacy exception-handling
    instructions (try/catch/catch_all/delegate/rethrow) of spec3/legacy, which WABT 1.0.32
    still parses. wasmtime's parser stays the first choice (it reads all of 3.0's text)."""
    import shutil
    import subprocess
    import tempfile

    tool = shutil.which("wat2wasm")
    if tool is None:
        return None
    with tempfile.TemporaryDirectory(prefix="wasmkiln-wat-") as tmp:
        src, dst = Path(tmp) / "m.wat", Path(tmp) / "m.wasm"
        src.write_text(text, encoding="utf-8")
        proc = subprocess.run(
            [tool, "--enable-all", str(src), "-o", str(dst)], capture_output=True, check=False
        )
        return dst.read_bytes() if proc.returncode == 0 and dst.is_file() else None


def _text(node: SList | Atom) -> str:
    """An atom's text; a list where a name, string or number belongs is an error."""
    if isinstance(node, SList):
        raise WastError(f"expected a name, string or number at offset {node.start}, found a list")
    return node.text


def _name(node: SList | Atom) -> str:
    """An export or module name: the string's bytes as UTF-8, as wast2json writes them."""
    return _text(node).encode("latin-1").decode("utf-8", "replace")


def _is(node: SList | Atom, head: str) -> bool:
    return isinstance(node, SList) and node.head() == head


def convert(path: Path, out_dir: Path) -> Path:
    """Write `path` (a .wast script) as NAME.json and its modules into out_dir; the .json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return _Converter(path, out_dir).run()
