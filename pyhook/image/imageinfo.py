"""What a built image says about itself: the JSON in its ``.wasmkiln.info`` section (target,
module name, ABI version, recorded ports, CPU level, whether the module opens its own sockets),
read by infojson.py (which loads no dataclasses: `wasmkiln run IMAGE`'s quick start uses it
alone), and the ports recorded in it (NetDefaults). Apart from pyhook/image/image.py, which
writes it, so that running a built image reads it without loading the compiler."""

from __future__ import annotations

from dataclasses import dataclass

from .infojson import INFO_SECTION, read_image_info

__all__ = ["INFO_SECTION", "NetDefaults", "read_image_info"]


@dataclass(frozen=True)
class NetDefaults:
    """The ports an image publishes when its run names none (`build -p/--listen`, the
    manifest's `listen`): a server image then runs with a plain `wasmkiln run IMAGE`, as a
    container image's EXPOSE would let it. Specs in `wasmkiln run`'s syntax, checked at build."""

    publish: tuple[str, ...] = ()
    listen: tuple[str, ...] = ()

    def info(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in (("publish", self.publish), ("listen", self.listen)) if v}

    @classmethod
    def from_info(cls, info: dict) -> NetDefaults:
        return cls(tuple(info.get("publish", ())), tuple(info.get("listen", ())))
