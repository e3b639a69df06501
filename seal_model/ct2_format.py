"""Reader for CTranslate2's `model.bin` container (binary version 6).

CTranslate2 stores a flat list of named arrays plus aliases. We read it with numpy alone so
the converter needs no ctranslate2 install; the layout mirrors `ctranslate2.specs.model_spec`.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

# Order matches the DataType enum in ctranslate2/types.h.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
_BFLOAT16 = 5


@dataclass
class CT2Model:
    """The decoded container: spec name, revision and every variable by name (aliases resolved)."""

    spec: str
    revision: int
    variables: dict[str, np.ndarray]


def _read(fh: BinaryIO, fmt: str) -> int:
    size = struct.calcsize(fmt)
    return struct.unpack(fmt, fh.read(size))[0]


def _read_string(fh: BinaryIO) -> str:
    length = _read(fh, "<H")
    return fh.read(length)[:-1].decode("utf-8")


def _bfloat16_to_float32(raw: bytes) -> np.ndarray:
    halves = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
    return halves.view(np.float32)


def read_ct2_model(path: str | Path) -> CT2Model:
    """Read a CTranslate2 model.bin into numpy arrays (float16/bfloat16 kept, int8 as stored)."""
    with open(path, "rb") as fh:
        version = _read(fh, "<I")
        if version != 6:
            raise ValueError(f"{path}: unsupported CTranslate2 binary version {version} (expected 6)")
        spec = _read_string(fh)
        revision = _read(fh, "<I")
        variables: dict[str, np.ndarray] = {}
        for _ in range(_read(fh, "<I")):
            name = _read_string(fh)
            rank = _read(fh, "<B")
            shape = tuple(_read(fh, "<I") for _ in range(rank))
            dtype_id = _read(fh, "<B")
            num_bytes = _read(fh, "<I")
            raw = fh.read(num_bytes)
            if dtype_id == _BFLOAT16:
                array = _bfloat16_to_float32(raw)
            elif dtype_id in _DTYPES:
                array = np.frombuffer(raw, dtype=_DTYPES[dtype_id]).copy()
            else:
                raise ValueError(f"{path}: variable {name} has unknown dtype id {dtype_id}")
            variables[name] = array.reshape(shape)
        for _ in range(_read(fh, "<I")):
            alias = _read_string(fh)
            target = _read_string(fh)
            variables[alias] = variables[target]
    return CT2Model(spec=spec, revision=revision, variables=variables)
