"""Silero VAD must not change how many threads the rest of a turn runs on."""
from __future__ import annotations

import subprocess
import sys

PROBE = """
import torch
torch.set_num_threads(2)
from rag_app.vad import SileroFrames, SileroVAD
SileroVAD(); SileroFrames()
print(torch.get_num_threads())
"""


def test_loading_silero_keeps_the_processs_torch_threads():
    """Importing the silero_vad package sets torch to one thread for the whole process; before the
    fix every stage after the VAD (SEAL, Whisper's decoder, the LLM) ran on one core. A fresh
    process, since an import's side effect happens once per process."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split()[-1] == "2"


def test_the_onnx_forms_find_what_the_jit_model_finds(question_audio):
    """The trim runs Silero's sequence ONNX model (one call per clip) and a stream its frame ONNX model
    (a thread of its own); both must hear what the torch JIT model hears, and silence stays silence."""
    import numpy as np
    import pytest
    import torch

    from rag_app.vad import FRAME_SAMPLES, NoSpeechError, SileroFrames, SileroVAD, load_silero
    from seal_model.audio import SAMPLE_RATE

    clip = np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), question_audio, np.zeros(SAMPLE_RATE // 2, np.float32)])
    vad = SileroVAD()
    assert vad.form == "sequence"  # the package ships it (silero-vad 6.2); older ones fall back to the JIT model
    jit = SileroVAD.__new__(SileroVAD)
    jit.__dict__.update(vad.__dict__, model=load_silero("jit"), form="jit")
    assert vad.speech_segments(clip) == jit.speech_segments(clip)
    assert abs(vad.trim(clip).start_s - 0.5) < 0.2
    with pytest.raises(NoSpeechError):
        vad.trim(np.zeros(SAMPLE_RATE, np.float32))

    frames = SileroFrames()
    assert frames.form == "onnx"
    model = load_silero("jit")
    steps = range(0, len(clip) - FRAME_SAMPLES, FRAME_SAMPLES)
    onnx = [frames.speech_probability(clip[i:i + FRAME_SAMPLES]) for i in steps]
    with torch.inference_mode():
        reference = [float(model(torch.from_numpy(clip[i:i + FRAME_SAMPLES].copy()), SAMPLE_RATE)) for i in steps]
    assert max(abs(a - b) for a, b in zip(onnx, reference)) < 0.01
    assert max(onnx) > 0.9 and onnx[0] < 0.1
