"""The CTranslate2 container reader, on a file we write byte by byte in the documented layout."""
import struct

import numpy as np
import pytest

from seal_model.ct2_format import read_ct2_model


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _variable(name: str, array: np.ndarray, dtype_id: int) -> bytes:
    body = _string(name) + struct.pack("<B", array.ndim)
    body += b"".join(struct.pack("<I", d) for d in array.shape)
    raw = array.tobytes()
    return body + struct.pack("<B", dtype_id) + struct.pack("<I", len(raw)) + raw


def test_reads_variables_dtypes_and_aliases(tmp_path):
    weight = np.arange(6, dtype=np.float16).reshape(2, 3)
    heads = np.array(8, dtype=np.int16)
    blob = struct.pack("<I", 6) + _string("WhisperSpec") + struct.pack("<I", 3) + struct.pack("<I", 2)
    blob += _variable("decoder/embeddings/weight", weight, 4) + _variable("encoder/num_heads", heads, 2)
    blob += struct.pack("<I", 1) + _string("decoder/projection/weight") + _string("decoder/embeddings/weight")
    path = tmp_path / "model.bin"
    path.write_bytes(blob)

    model = read_ct2_model(path)

    assert model.spec == "WhisperSpec" and model.revision == 3
    np.testing.assert_array_equal(model.variables["decoder/embeddings/weight"], weight)
    assert model.variables["decoder/embeddings/weight"].dtype == np.float16
    assert int(model.variables["encoder/num_heads"]) == 8
    np.testing.assert_array_equal(model.variables["decoder/projection/weight"], weight)


def test_rejects_other_binary_versions(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(struct.pack("<I", 5) + _string("X"))
    with pytest.raises(ValueError, match="binary version 5"):
        read_ct2_model(path)
