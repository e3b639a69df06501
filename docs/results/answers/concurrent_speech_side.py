"""Prototype (built into the turn as concurrent_speech_side.patch, measured, not kept: README): SEAL's speech side (adapter, CTC, MiniLM layers, pooling) and its search run
beside Whisper's decoder on another thread, instead of before it (the decoder needs only the encoder
states, and with two threads it runs 0.90x its one-thread time: it leaves the second core mostly
idle). Per clip, sequential vs concurrent, alternated which goes first, 2 threads:

  python docs/results/answers/concurrent_speech_side.py SET_DIR LIMIT
"""
import sys
import threading
import time
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ood-generalisation"))
from clip_runs import open_clip_run
from seal_model.audio import SAMPLE_RATE
from seal_model.speech_encoder import frames_after_convs
run = open_clip_run(sys.argv[1], "/dev/null", 2)
seal, tr, side = run.seal, run.transcriber, run.side
def encode(audio):
    tail = np.zeros(round(tr.silence_s * SAMPLE_RATE), np.float32)
    with torch.inference_mode():
        mel, lengths = seal.speech_encoder.log_mel([np.concatenate([audio, tail])])
        states, mask = seal.speech_encoder(mel, lengths)
        speech = frames_after_convs(torch.tensor([seal.speech_encoder.mel_frames(len(audio))]))
        speech_mask = (torch.arange(mask.shape[1])[None, :] < speech[:, None]).to(mask.dtype)
    return states, mask, speech_mask
def speech_side(states, speech_mask):
    with torch.inference_mode():
        out = seal.speech_forward(states, speech_mask)
        vec = out.embedding.float().numpy()[0]; seal.read(out)
    run.index.search(vec[None])
def seq(audio, seconds):
    t = time.perf_counter()
    states, mask, sm = encode(audio); speech_side(states, sm)
    tr.decode_states(states[0, : int(mask.sum())], seconds)
    return (time.perf_counter() - t) * 1000
def conc(audio, seconds):
    t = time.perf_counter()
    states, mask, sm = encode(audio)
    res = {}
    th = threading.Thread(target=lambda: res.setdefault("d", tr.decode_states(states[0, : int(mask.sum())], seconds)))
    th.start(); speech_side(states, sm); th.join()
    return (time.perf_counter() - t) * 1000
rows = []
for n, (q, audio, seconds) in enumerate(run.clips(0, int(sys.argv[2]))):
    r = {}
    for f in ((seq, conc) if n % 2 else (conc, seq)):
        r[f.__name__] = f(audio, seconds)
    rows.append((r["seq"], r["conc"]))
a = np.array(rows)
print(f"{len(a)} clips: sequential p50 {np.median(a[:,0]):.0f} ms, concurrent p50 {np.median(a[:,1]):.0f} ms, paired median {np.median(a[:,1]-a[:,0]):+.0f} ms")
