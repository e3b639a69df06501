"""The ASR baseline SEAL replaces: Whisper transcription (greedy), then the text tower.

It uses the same Whisper weights as the SEAL speech tower, on the same device, so the
comparison is about the method, not the model. Standard Whisper decoding pads to 30 s.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seal_model.audio import SAMPLE_RATE


class WhisperTranscriber:
    def __init__(self, whisper_dir: str | Path, device: torch.device | str = "cpu", language: str = "en"):
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self.processor = WhisperProcessor.from_pretrained(whisper_dir)
        self.model = WhisperForConditionalGeneration.from_pretrained(whisper_dir, dtype=torch.float32).to(device).eval()
        multilingual = bool(getattr(self.model.generation_config, "is_multilingual", False))
        # The knowledge base is English: telling a multilingual model so avoids language-ID errors.
        self.generate_kwargs = {"language": language, "task": "transcribe"} if multilingual else {}

    @torch.inference_mode()
    def transcribe(self, audio: np.ndarray) -> str:
        features = self.processor.feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        ids = self.model.generate(features.to(self.model.device), num_beams=1, do_sample=False, **self.generate_kwargs)
        return self.processor.batch_decode(ids, skip_special_tokens=True)[0].strip()
