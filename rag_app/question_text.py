"""The question text the LLM reads in SEAL mode.

SEAL retrieves from the speech itself, but the text-only LLM still needs the words. Two ways
to get them, chosen by the `question_text` setting:
- "whisper": Whisper's own decoder (greedy) reads the encoder states SEAL already computed for
  the clip. No second encoder pass; the decoder runs in a thread while SEAL finishes its
  embedding and the search runs.
- "seal-reading": the greedy reading of SEAL's own CTC head, a by-product of the embedding
  pass: free, but it garbles names ("Shawshank" -> "the shaw").

SEAL's encoder runs on the real length of the clip, not Whisper's 30 s window. Fed those
trimmed states alone, the decoder never sees where the audio ends and often repeats the
question until its token limit ("When was the I-Fault hour built? When was the ..."). So the
trimmed states are followed by the states Whisper's encoder gives 30 s of silence, computed
once at start-up: the decoder sees a full window, with no per-question pass over the padding
(docs/results/question-text measures both against Whisper's full ASR).
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Callable

import numpy as np
import torch

QUESTION_TEXTS = ("whisper", "seal-reading")
MAX_QUESTION_TOKENS = 96  # a spoken question fits easily; bounds a decoder that loops


class StatesTranscriber:
    """Whisper's decoder over given encoder states (B=1). `encoder`, when given, replaces the
    decoder model's own encoder so the weights are shared with SEAL's (one copy in memory);
    it only runs once, for the silence tail. `pad_to_window=False` gives the decoder the
    trimmed states alone (measured, not used: it loops)."""

    def __init__(self, whisper_dir: str | Path, encoder: torch.nn.Module | None = None,
                 device: torch.device | str = "cpu", pad_to_window: bool = True, language: str = "en"):
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self.processor = WhisperProcessor.from_pretrained(whisper_dir)
        model = WhisperForConditionalGeneration.from_pretrained(whisper_dir, dtype=torch.float32)
        if encoder is not None:
            model.model.encoder = encoder
        self.model = model.to(device).eval()
        multilingual = bool(getattr(self.model.generation_config, "is_multilingual", False))
        self.generate_kwargs = {"language": language, "task": "transcribe"} if multilingual else {}
        self.pad_to_window = pad_to_window
        self._tail: torch.Tensor | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def silence_tail(self) -> torch.Tensor:
        """(1, 1500, d): the encoder states of a 30 s window of silence, computed once."""
        if self._tail is None:
            features = self.processor.feature_extractor(np.zeros(16000 * 30, np.float32), sampling_rate=16000,
                                                        return_tensors="pt").input_features
            self._tail = self.model.model.encoder(features.to(self.device)).last_hidden_state
        return self._tail

    @torch.inference_mode()
    def transcribe_states(self, states: torch.Tensor, mask: torch.Tensor | None = None) -> str:
        """The text of one clip's encoder states (1, T, d); `mask` (1, T) marks its real frames."""
        from transformers.modeling_outputs import BaseModelOutput

        if mask is not None:
            states = states[:, : int(mask[0].sum())]
        states = states.to(self.device)
        if self.pad_to_window:
            tail = self.silence_tail()
            states = torch.cat([states, tail[:, states.shape[1] :]], dim=1)
        ids = self.model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=states), num_beams=1,
                                  do_sample=False, max_new_tokens=MAX_QUESTION_TOKENS, **self.generate_kwargs)
        return self.processor.batch_decode(ids, skip_special_tokens=True)[0].strip()


def in_thread(work: Callable[[], str]) -> Future:
    """Run `work` in a daemon thread; its result (or error) arrives through the future. A plain
    thread, not a pool: one question at a time per turn, and nothing to shut down."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - handed to the turn, which re-raises it
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


def measure_question_text(eval_set, seal, readers: dict[str, StatesTranscriber], transcriber=None,
                          queries=None, search: Callable[[np.ndarray], object] | None = None,
                          log: Callable[[str], None] = print) -> dict:
    """Word error rate and latency of each way to get the question text, clip by clip on the
    same clips: SEAL's reading (with the embedding, one pass), each decoder variant over the
    states SEAL computed, and, as the reference, Whisper's full ASR (its own padded encoder
    pass). `search` (vector -> anything) times a turn's overlap: the decoder in a thread while
    SEAL embeds and searches, against the reading path's embed + search."""
    from rag_app.audio import decode_audio
    from rag_app.evaluate import word_errors
    from rag_app.latency import percentiles

    queries = list(queries if queries is not None else eval_set.queries)
    names = ["seal-reading", *readers, *(["asr-full"] if transcriber is not None else [])]
    errors = {name: [0, 0] for name in names}
    ms: dict[str, list[float]] = {name: [] for name in names}
    turn_ms: dict[str, list[float]] = {name: [] for name in ["seal-reading", *readers]}
    examples = []
    for n, query in enumerate(queries):
        audio = decode_audio(query.audio)
        texts = {}
        start = time.perf_counter()
        states, mask = seal.speech_states([audio])
        states_ms = (time.perf_counter() - start) * 1000
        t = time.perf_counter()
        vectors, readings = seal.embed_and_read_states(states, mask)
        embed_ms = (time.perf_counter() - t) * 1000
        texts["seal-reading"] = readings[0]
        ms["seal-reading"].append(states_ms + embed_ms)
        t = time.perf_counter()
        if search is not None:
            search(vectors[0])
        turn_ms["seal-reading"].append(states_ms + embed_ms + (time.perf_counter() - t) * 1000)
        for name, reader in readers.items():
            t = time.perf_counter()
            texts[name] = reader.transcribe_states(states, mask)
            ms[name].append(states_ms + (time.perf_counter() - t) * 1000)  # the states are shared, so counted once
            t = time.perf_counter()
            future = in_thread(lambda reader=reader: reader.transcribe_states(states, mask))
            overlapped = seal.embed_and_read_states(states, mask)[0]
            if search is not None:
                search(overlapped[0])
            future.result()
            turn_ms[name].append(states_ms + (time.perf_counter() - t) * 1000)
        if transcriber is not None:
            t = time.perf_counter()
            texts["asr-full"] = transcriber.transcribe(audio)
            ms["asr-full"].append((time.perf_counter() - t) * 1000)
        for name, text in texts.items():
            e, words = word_errors(query.text, text)
            errors[name][0] += e
            errors[name][1] += words
        if len(examples) < 8:
            examples.append({"query": query.id, "text": query.text, **texts})
        log(f"{n + 1}/{len(queries)} " + " | ".join(f"{k}: {v}" for k, v in texts.items()))
    return {
        "queries": len(queries),
        "wer": {name: e / max(words, 1) for name, (e, words) in errors.items()},
        "waveform_to_text_ms": {name: percentiles(values) for name, values in ms.items()},
        "turn_to_question_text_ms": {name: percentiles(values) for name, values in turn_ms.items()},
        "examples": examples,
    }
