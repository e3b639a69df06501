"""Silero's whole-clip trim, per form: the torch JIT model on 2 and 1 threads, the ONNX model frame by
frame, and the ONNX sequence model (a clip in one call); do they find the same speech segments?

    python docs/results/answers/vad_speed.py 20     # the first 20 Piper joe clips of heldout-nq
"""
from __future__ import annotations

import glob
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rag_app.audio import decode_audio
from rag_app.vad import load_silero
from seal_model.audio import SAMPLE_RATE


def timed(model, clip: np.ndarray) -> tuple[float, list]:
    from silero_vad import get_speech_timestamps
    from silero_vad.sequence_vad import SileroVADSequence, get_speech_timestamps_sequence

    started = time.perf_counter()
    if isinstance(model, SileroVADSequence):
        segments = get_speech_timestamps_sequence(clip, model, threshold=0.5, sampling_rate=SAMPLE_RATE)
    else:
        with torch.inference_mode():
            segments = get_speech_timestamps(torch.from_numpy(clip), model, threshold=0.5, sampling_rate=SAMPLE_RATE)
        model.reset_states()
    return (time.perf_counter() - started) * 1000, segments


def main(n: int) -> None:
    torch.set_num_threads(2)
    files = sorted(glob.glob(str(Path.home() / ".cache/seal-rag/data/eval/heldout-nq/audio/*piper-joe.flac")))[:n]
    pad = np.zeros(SAMPLE_RATE // 2, np.float32)  # half a second of silence each side, as a recording has
    clips = [np.concatenate([pad, decode_audio(Path(f).read_bytes()), pad]) for f in files]
    forms = {"jit, 2 threads": (load_silero("jit"), 2), "jit, 1 thread": (load_silero("jit"), 1),
             "onnx, frame by frame": (load_silero("onnx"), 2), "onnx sequence": (load_silero("sequence"), 2)}
    times: dict[str, list[float]] = {name: [] for name in forms}
    same = dict.fromkeys(forms, 0)
    for clip in clips:
        reference = None
        for name, (model, threads) in forms.items():  # alternated per clip: the machine's drift hits all alike
            torch.set_num_threads(threads)
            ms, segments = timed(model, clip)
            reference = segments if reference is None else reference
            times[name].append(ms)
            same[name] += segments == reference
    torch.set_num_threads(2)
    print(f"{len(clips)} clips, {statistics.median(len(c) for c in clips) / SAMPLE_RATE:.1f} s p50 (with 1 s of silence)")
    for name in forms:
        print(f"{name:<22} p50 {statistics.median(times[name]):6.1f} ms   segments as the 2-thread JIT model's: {same[name]}/{len(clips)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
