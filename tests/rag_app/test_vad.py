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
