"""Reading replica files as a thief would: raw bytes, plus every LTX page decompressed (Litestream LZ4s pages)."""

from __future__ import annotations

import struct
from pathlib import Path

import lz4.block

LTX_HEADER = 100  # bytes; then frames of pgno (u32), flags (u16), compressed size (u32), LZ4 block


def ltx_pages(blob: bytes) -> list[bytes]:
    """The database pages inside one LTX file (empty when it is not one)."""
    if blob[:4] != b"LTX1":
        return []
    page_size = struct.unpack(">I", blob[8:12])[0]
    pages, offset = [], LTX_HEADER
    while offset + 6 <= len(blob):
        pgno, _flags = struct.unpack(">IH", blob[offset:offset + 6])
        if pgno == 0:
            break
        size = struct.unpack(">I", blob[offset + 6:offset + 10])[0]
        offset += 10
        pages.append(lz4.block.decompress(blob[offset:offset + size], uncompressed_size=page_size))
        offset += size
    return pages


def replica_leaks(root: Path, needles: list[bytes]) -> list[str]:
    """`file: needle` for every identifying string found in any file under `root`."""
    found = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        blob = path.read_bytes()
        readable = b"\0".join([blob, *ltx_pages(blob)])
        found += [f"{path.relative_to(root)}: {n.decode()}" for n in needles if n in readable]
    return found
