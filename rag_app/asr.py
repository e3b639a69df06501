"""The ASR baseline SEAL replaces: Whisper transcription (greedy), then the text tower.

It uses the same Whisper weights as the SEAL speech tower, on the same device, so the
comparison is about the method, not the model. Standard Whisper decoding pads to 30 s.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from seal_model.audio import SAMPLE_RATE


def loops(text: str, times: int = 4) -> bool:
    """A word said `times` times in a row ("What What What what What"): Whisper's decoder looping
    on noise (babble at 10 dB did it), not a question; the caller falls back to SEAL's own reading.
    Four, not three: "Bye Bye Bye" is a song someone may ask about."""
    words = re.findall(r"[\w']+", text.lower())
    return any(len(set(words[i:i + times])) == 1 for i in range(len(words) - times + 1))


class WhisperTranscriber:
    def __init__(self, whisper_dir: str | Path, device: torch.device | str = "cpu", language: str = "en",
                 dtype: torch.dtype = torch.float32):
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self.processor = WhisperProcessor.from_pretrained(whisper_dir)
        self.model = WhisperForConditionalGeneration.from_pretrained(whisper_dir, dtype=dtype).to(device).eval()
        multilingual = bool(getattr(self.model.generation_config, "is_multilingual", False))
        # The knowledge base is English: telling a multilingual model so avoids language-ID errors.
        self.generate_kwargs = {"language": language, "task": "transcribe"} if multilingual else {}

    @torch.inference_mode()
    def decode_states(self, states: torch.Tensor, seconds: float) -> str:
        """Whisper's decoder on encoder states SEAL already computed on the trimmed clip (no 30 s
        encoder pass). Whisper was trained on padded input and, given only the speech, often
        repeats itself or runs on: the token budget follows the clip's length (3.5 a second is
        fast speech), no 3-gram may repeat, and only the first sentence is kept (a question). A looping
        result comes back empty ("" = nothing usable: the caller keeps SEAL's reading)."""
        from transformers.modeling_outputs import BaseModelOutput

        ids = self.model.generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=states[None].to(self.model.device, self.model.dtype)),
            # max_length counts Whisper's 4 prompt tokens (max_new_tokens would clash with the
            # model's own max_length and warn on every call)
            num_beams=1, do_sample=False, max_length=int(3.5 * seconds) + 10, no_repeat_ngram_size=3,
            **self.generate_kwargs,
        )
        text = self.processor.batch_decode(ids, skip_special_tokens=True)[0].strip()
        first = re.split(r"(?<=[.?!])\s+", text)[0] if text else ""
        return "" if loops(first) else first

    @torch.inference_mode()
    def transcribe(self, audio: np.ndarray) -> str:
        features = self.processor.feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        ids = self.model.generate(features.to(self.model.device, self.model.dtype), num_beams=1, do_sample=False, **self.generate_kwargs)
        return self.processor.batch_decode(ids, skip_special_tokens=True)[0].strip()
