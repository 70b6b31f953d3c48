""".wast scripts read without WABT (pyhook/spec/wast_text.py): the S-expression reader, values, and
a small script run end to end. The 3.0 suite itself runs in tests/test_spec.py (slow)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from wasmkiln.pyhook.spec import wast
from wasmkiln.pyhook.spec.wast_text import SList, WastError, convert, parse, wat_int

pytest.importorskip("wasmtime", reason="wast_text parses modules with wasmtime's wat2wasm")

SCRIPT = r"""
;; a comment (with "a string" and a paren
(; a block (; nested ;) comment ;)
(module $m
  (func (export "add") (param v128 v128) (result v128)
    (f32x4.add (local.get 0) (local.get 1)))
  (func (export "id") (param i64) (result i64) (local.get 0))
  (global (export "g") v128 (v128.const i16x8 1 -1 2 -2 0x10 0 0 0x7fff)))
(assert_return (invoke "add" (v128.const f32x4 1.5 -0 0x1p-149 inf)
                             (v128.const f32x4 0.25 0 0 -inf))
               (v128.const f32x4 1.75 0 0x1p-149 nan:canonical))
(assert_return (invoke $m "id" (i64.const -0x8000_0000_0000_0000))
               (i64.const 9223372036854775808))
(assert_return (get "g") (v128.const i16x8 1 65535 2 -2 16 0 0 32767))
(assert_return (invoke "id" (i64.const 3)) (either (i64.const 4) (i64.const 3)))
(register "M" $m)
(assert_malformed (module quote "(func i32.const 0x)") "unknown operator")
(assert_invalid (module (func (result i32) (f32.const 0))) "type mismatch")
(assert_trap (invoke "add" (v128.const i64x2 0 0) (v128.const i64x2 0 0)) "unreachable")
"""


def test_reader_keeps_offsets_and_skips_comments() -> None:
    lists = parse('(a "b\\n\\41\\u{263a}" (c)) ;; x\n(; (d) ;) (e)')
    assert [x.head() for x in lists] == ["a", "e"]
    first = lists[0]
    assert first.items[1].text.encode("latin-1") == b"b\nA\xe2\x98\xba"  # type: ignore[union-attr]
    assert (first.start, first.end) == (0, 24)
    with pytest.raises(WastError, match="line 2: unclosed"):
        parse("(a)\n(b")


def test_integer_literals() -> None:
    assert wat_int("-1", 32) == 0xFFFFFFFF
    assert wat_int("0x8000_0000", 32) == 1 << 31
    assert wat_int("+012", 8) == 12
    assert wat_int("-0x80", 8) == 0x80


def test_script_converts_like_wast2json(tmp_path: Path) -> None:
    src = tmp_path / "t.wast"
    src.write_text(SCRIPT)
    out = convert(src, tmp_path / "out")
    cmds = json.loads(out.read_text())["commands"]
    assert [c["type"] for c in cmds] == [
        "module",
        "assert_return",
        "assert_return",
        "assert_return",
        "assert_return",
        "register",
        "assert_malformed",
        "assert_invalid",
        "assert_trap",
    ]
    assert (
        cmds[0]["name"] == "$m" and (out.parent / cmds[0]["filename"]).read_bytes()[:4] == b"\0asm"
    )
    args = cmds[1]["action"]["args"]
    assert args[0] == {
        "type": "v128",
        "lane_type": "f32",
        "value": ["1069547520", "2147483648", "1", "2139095040"],
    }
    assert cmds[1]["expected"][0]["value"][3] == "nan:canonical"
    assert cmds[2]["action"]["args"][0]["value"] == str(1 << 63)
    assert cmds[3]["action"] == {"type": "get", "field": "g"}
    assert cmds[4]["expected"][0]["type"] == "either"
    assert cmds[5] == {"type": "register", "line": cmds[5]["line"], "as": "M", "name": "$m"}
    assert cmds[6]["module_type"] == "text"
    assert cmds[7]["module_type"] == "binary"


def _run(text: str, backend: str, tmp_path: Path) -> wast.FileResult:
    src = tmp_path / "t.wast"
    src.write_text(text)
    (result,) = wast.run_scripts([src], backend=backend)
    return result


@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_script_runs(backend: str, tmp_path: Path) -> None:
    """Everything passes except the planted trap (add does not trap), which must fail."""
    result = _run(SCRIPT, backend, tmp_path)
    assert result.passed == 7 and result.skipped_total == 1, result.failures
    assert [f.command for f in result.failures] == ["assert_trap"]


def test_annotations_and_lone_semicolons() -> None:
    """Annotations `(@id ...)` hold any token, `;` alone included (the reader looped forever
    on it: `wasmkiln wast spec3/annotations.wast` hung); they mean nothing to the script, so
    a command's head is found past them, while a module's text keeps them for wat2wasm."""
    text = '((@a) module (@a , ; ] (; x ;) ;)\n  (func))\n(@b ;) (invoke (@c) "f")'
    read: list[list[SList]] = []
    reader = threading.Thread(target=lambda: read.append(parse(text)), daemon=True)
    reader.start()
    reader.join(30)  # a reader that loops must fail the test, not hang the suite
    assert read, "the reader did not finish"
    (lists,) = read
    assert [x.head() for x in lists] == ["module", "invoke"]
    assert [x.head() for x in lists[0].items[1:]] == ["func"]  # type: ignore[union-attr]


# Generative instances of one definition, a definition named and instantiated later, the
# latest definition when no name is given, and a valid module written as quoted text.
MODULES = r"""
(module definition $M
  (global (export "g") (mut i32) (i32.const 0))
  (func (export "inc") (result i32)
    (global.set 0 (i32.add (global.get 0) (i32.const 1))) (global.get 0)))
(module instance $I1 $M)
(module instance $I2 $M)
(assert_return (invoke $I1 "inc") (i32.const 1))
(assert_return (invoke $I1 "inc") (i32.const 2))
(assert_return (invoke $I2 "inc") (i32.const 1))
(module instance $I3)
(assert_return (invoke "inc") (i32.const 1))
(assert_return (get $I1 "g") (i32.const 2))
(module quote "(func (export \"seven\") (result i32) (i32.const 7))" "(@a ;)")
(assert_return (invoke "seven") (i32.const 7))
(module definition (func (export "unused")))
(module instance $J)
(assert_return (invoke $J "unused"))
(module instance $K $nowhere)
"""


def test_module_definitions_and_instances_convert(tmp_path: Path) -> None:
    src = tmp_path / "m.wast"
    src.write_text(MODULES)
    cmds = json.loads(convert(src, tmp_path / "out").read_text())["commands"]
    assert cmds[0]["definition"] and cmds[0]["name"] == "$M"
    assert (tmp_path / "out" / cmds[0]["filename"]).read_bytes()[:4] == b"\0asm"
    assert {k: cmds[1][k] for k in ("type", "instance", "name", "definition_name")} == {
        "type": "module",
        "instance": True,
        "name": "$I1",
        "definition_name": "$M",
    }
    assert cmds[6]["name"] == "$I3" and "definition_name" not in cmds[6]
    assert cmds[9]["module_type"] == "binary"


@pytest.mark.parametrize("backend", ["cranelift", "llvm"])
def test_module_definitions_and_instances_run(backend: str, tmp_path: Path) -> None:
    """Every command passes but the instance of a definition that does not exist."""
    result = _run(MODULES, backend, tmp_path)
    assert (result.passed, result.failed) == (14, 1), result.failures
    assert [f.message for f in result.failures] == ["no module definition $nowhere"]


def test_a_folder_of_wast_files_is_run(tmp_path: Path) -> None:
    """`wasmkiln wast FOLDER` takes its .wast files (spec3, and its legacy/ subfolder) as
    well as its wast2json scripts, a .wast once: not again next to its own .json."""
    (tmp_path / "suite" / "legacy").mkdir(parents=True)
    (tmp_path / "suite" / "legacy" / "a.wast").write_text("(module)")
    (tmp_path / "suite" / "b.wast").write_text("(module)")
    (tmp_path / "suite" / "b.json").write_text('{"commands": []}')
    found = wast.find_scripts([tmp_path / "suite"], tmp_path / "tmp")
    assert [p.name for p in found] == ["b.json", "a.json"]
    assert found[1].parent.parent == tmp_path / "tmp" / "wast"


def test_utf8_names_and_an_inline_module(tmp_path: Path) -> None:
    """Export names are UTF-8 (names.wast: 444 commands failed when they stayed bytes), and a
    script of bare module fields is one module (inline-module.wast)."""
    src = tmp_path / "n.wast"
    src.write_text(
        '(module (func (export "\\e2\\84\\ab") (result i32) (i32.const 1)))\n'
        '(assert_return (invoke "\u212b") (i32.const 1))\n',
        encoding="utf-8",
    )
    cmds = json.loads(convert(src, tmp_path / "out").read_text())["commands"]
    assert cmds[1]["action"]["field"] == "\u212b"
    inline = tmp_path / "i.wast"
    inline.write_text('(func (export "f")) (memory 0)')
    (cmd,) = json.loads(convert(inline, tmp_path / "out2").read_text())["commands"]
    assert cmd["type"] == "module" and cmd["module_type"] == "binary"
