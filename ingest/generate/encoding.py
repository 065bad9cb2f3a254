"""Vectorised encoding of generated values: keyed hashes of integer ids, hex text, coded text.

Identifiers and hashes are formatted with array arithmetic (no per-row Python): a keyed
splitmix64 turns an integer id into 64 random-looking bits, `hex_matrix` spells such words
as ASCII hex, and `code_strings` turns integer codes into Arrow strings of a vocabulary.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["code_strings", "hex_matrix", "mix64"]

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)


def mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection of uint64, used as a keyed hash of integer ids."""
    z = np.asarray(values).astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hex_matrix(words: list[np.ndarray], width: int) -> np.ndarray:
    """(n, width) ASCII hex of the concatenated big-endian uint64 words (width <= 16*len)."""
    raw = np.stack([word.astype(np.uint64) for word in words], axis=1).astype(">u8").view(np.uint8)
    out = np.empty((raw.shape[0], raw.shape[1] * 2), np.uint8)
    out[:, 0::2] = _HEX_DIGITS[raw >> 4]
    out[:, 1::2] = _HEX_DIGITS[raw & 15]
    return out[:, :width]


def code_strings(codes: np.ndarray, values: list[str]) -> pa.Array:
    """Arrow strings values[codes]; a negative code is a null (an empty CSV field)."""
    codes = np.asarray(codes)
    index = pa.array(np.where(codes < 0, 0, codes).astype(np.int32), mask=codes < 0)
    return pa.array(values, pa.string()).take(index)
