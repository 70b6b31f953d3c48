"""The runtime finder: installed location, the environment override, and its error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from wasmkiln.pyhook.image import runtime


def _fake_runtime(root: Path, *triples: str) -> Path:
    for triple in triples:
        (root / triple).mkdir(parents=True)
        (root / triple / "target.json").write_text("{}")
    (root / "include" / "wk").mkdir(parents=True)
    return root


def test_installed_runtime_has_the_x86_64_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pip install .` / `pip install -e .` put the CMake-built runtime where the finder looks."""
    monkeypatch.delenv(runtime.ENV_VAR, raising=False)
    root = runtime.runtime_dir()
    assert root.name == "_runtime"
    assert (root / "include" / "wk").is_dir()
    for triple in ("x86_64-kvm", "x86_64-spt"):
        folder = runtime.target_dir(triple)
        assert (folder / "link.ld").is_file()
        assert (folder / f"libwasmkiln-{triple}.a").is_file()


def test_env_var_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = _fake_runtime(tmp_path / "rt", "x86_64-spt")
    monkeypatch.setenv(runtime.ENV_VAR, str(root))
    assert runtime.runtime_dir() == root.resolve()
    assert runtime.target_dir("x86_64-spt") == root.resolve() / "x86_64-spt"
    assert runtime.installed_targets() == ["x86_64-spt"]


def test_env_var_naming_nothing_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(runtime.ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(runtime.RuntimeNotFound, match=runtime.ENV_VAR):
        runtime.runtime_dir()


def test_missing_runtime_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(runtime.ENV_VAR, raising=False)
    monkeypatch.setattr(runtime, "_candidates", lambda: [Path("/nonexistent/_runtime")])
    with pytest.raises(runtime.RuntimeNotFound, match="pip install .") as info:
        runtime.runtime_dir()
    assert "/nonexistent/_runtime" in str(info.value)


def test_unknown_target_lists_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(runtime.ENV_VAR, str(_fake_runtime(tmp_path / "rt", "x86_64-kvm")))
    with pytest.raises(runtime.RuntimeNotFound, match=r"installed: x86_64-kvm"):
        runtime.target_dir("riscv64-kvm")


@pytest.mark.parametrize("bad", ["", "..", "../etc", "x86_64-kvm/link.ld", ".hidden"])
def test_target_dir_rejects_paths(bad: str) -> None:
    with pytest.raises(ValueError):
        runtime.target_dir(bad)
