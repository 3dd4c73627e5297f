"""Chunks of the results store: their codecs and key layout, the cell table's chunk shape, and whole-chunk
encoding and decoding that skip zarr's per-chunk machinery (stored bytes identical in format to zarr's own;
sweep.store.location writes them), and the digests that bind a stored chunk to its place (:func:`chunk_digest`)."""

from __future__ import annotations

import functools
import hashlib
import itertools
from typing import Optional

import numpy as np
import zarr
from zarr.codecs import BytesCodec, Crc32cCodec, ZstdCodec

CHECKED = (ZstdCodec(level=3), Crc32cCodec())
"""Codecs of every per-cell array: zstd, then a CRC32C of each chunk (finds flipped bytes and truncation)."""
FLAT_KEYS = {"name": "default", "separator": "."}
"""Chunk keys of per-cell arrays: `c.3.0.1.0` files side by side in the array's folder (no folder per chunk)."""
DIGEST_SCHEME = "blake2b-64(key NUL chunk)"
"""The chunk digest (root attribute `chunk_digests` of stores that keep them): see chunk_digest."""
TABLE_CHUNK_CELLS = 1024
"""Cells per chunk of the cell table (whole trailing grid dimensions first)."""


def table_chunks(shape: tuple) -> tuple:
    """Chunk shape of the cell table over a grid of `shape`: at most TABLE_CHUNK_CELLS cells, filled from the
    last dimension backwards (cells run in C order, so a batch of results touches one or two chunks)."""
    out, budget = [], TABLE_CHUNK_CELLS
    for n in reversed(shape):
        c = max(1, min(int(n), budget))
        out.append(c)
        budget = max(1, budget // c)
    return tuple(reversed(out))


def chunk_region(key: tuple, chunks: tuple, shape: tuple) -> tuple:
    """The selection (slices) of the chunk at grid position `key` of an array of `shape` cut in `chunks`."""
    return tuple(slice(k * c, min((k + 1) * c, n)) for k, c, n in zip(key, chunks, shape))


def chunk_regions(chunks: tuple, shape: tuple, within: Optional[tuple] = None):
    """The selection of every chunk of an array of `shape` cut in `chunks` (over its leading len(chunks)
    dimensions), clipped to the selection `within` (default: everything)."""
    within = within or tuple(slice(0, n) for n in shape)
    ranges = [range(w.start // c, -(-w.stop // c)) for w, c in zip(within, chunks)]
    for key in itertools.product(*ranges):
        yield tuple(slice(max(r.start, w.start), min(r.stop, w.stop))
                    for r, w in zip(chunk_region(key, chunks, shape), within))


_FAST_CODECS = [BytesCodec(endian="little").to_dict()] + [c.to_dict() for c in CHECKED]


def fast_codecs(a: zarr.Array) -> bool:
    """Whether `a` stores float chunks with exactly this package's codecs (fast_chunk_bytes can encode them)."""
    return [c.to_dict() for c in a.metadata.codecs] == _FAST_CODECS and \
        a.metadata.data_type.to_native_dtype().kind == "f"


def fast_chunk_bytes(block: np.ndarray) -> bytes:
    """The stored bytes of a whole chunk holding `block`, encoded as zarr would (little-endian bytes,
    zstd level 3, then the CRC32C of the compressed bytes appended, little-endian), for an array with
    fast_codecs and the block's dtype. Skips zarr's per-chunk machinery, which costs about a millisecond a chunk."""
    import google_crc32c

    raw = np.ascontiguousarray(block, dtype=block.dtype.newbyteorder("<")).tobytes()
    comp = bytes(_zstd().encode(raw))
    return comp + int(google_crc32c.value(comp)).to_bytes(4, "little")


def fast_chunk_values(a: zarr.Array, raw: bytes) -> np.ndarray:
    """The values of one stored chunk of `a` (an array with fast_codecs), the inverse of fast_chunk_bytes;
    raises ValueError when the CRC32C or the decoded size is wrong (a flipped byte, a truncated object)."""
    import google_crc32c

    if len(raw) < 4:
        raise ValueError(f"a chunk of {len(raw)} bytes is shorter than its checksum")
    comp, crc = bytes(raw[:-4]), int.from_bytes(raw[-4:], "little")
    if int(google_crc32c.value(comp)) != crc:
        raise ValueError("stored and computed CRC32C checksums do not match")
    dtype = a.metadata.data_type.to_native_dtype().newbyteorder("<")
    data = _zstd().decode(comp)
    if len(data) != int(np.prod(a.chunks)) * dtype.itemsize:
        raise ValueError(f"the chunk decodes to {len(data)} bytes, not {int(np.prod(a.chunks)) * dtype.itemsize}")
    return np.frombuffer(data, dtype=dtype).reshape(a.chunks)


@functools.lru_cache(maxsize=1)
def _zstd():
    from numcodecs import Zstd

    return Zstd(level=CHECKED[0].level, checksum=CHECKED[0].checksum)


def chunk_digest(key: str, stored: bytes) -> int:
    """The digest of a stored data chunk bound to its place: BLAKE2b with an 8-byte digest over the chunk's key
    in the store (``weights/c.1.0.0.0.0``, UTF-8), a NUL byte and the chunk's stored bytes (CRC32C included),
    read as a little-endian unsigned 64-bit integer; never 0 (0 means "no digest" in the cell table: a digest
    of 0 is stored as 1). The same bytes under another key, another cell's bytes, or bytes rewritten with a
    recomputed CRC all give another digest."""
    h = hashlib.blake2b(key.encode() + b"\0", digest_size=8)
    h.update(stored)
    return int.from_bytes(h.digest(), "little") or 1
