"""The Whisper encoder run on the real length of the audio, not Whisper's 30 s padding.

Whisper pads every clip to 3000 mel frames; for a 3 s question that is 10x the work. We keep
only the real frames and slice the positional embeddings to match. Clips of different
lengths share a batch without changing each other's result: padded frames are zeroed after
each convolution (as the convolution's own zero padding would be for a lone clip) and masked
out of self-attention. Training caches these features and serving computes the same ones.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from seal_model.audio import SAMPLE_RATE, WHISPER_SECONDS
from seal_model.batching import length_sorted_batches

HOP = 160  # mel hop length: 100 frames per second


def frames_after_convs(mel_frames: torch.Tensor | int):
    """Encoder frames for a number of mel frames: conv2 has stride 2 and padding 1."""
    return (mel_frames + 1) // 2


def key_padding_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, T) 1/0 mask -> additive (B, 1, 1, T) attention bias that hides padded keys."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class WhisperSpeechEncoder(nn.Module):
    """Log-mel front end + Whisper encoder on trimmed, batch-invariant input."""

    def __init__(self, model_dir: str | Path, max_seconds: float = WHISPER_SECONDS):
        super().__init__()
        from transformers import WhisperFeatureExtractor, WhisperModel

        self.model_dir = Path(model_dir)
        self.feature_extractor = WhisperFeatureExtractor.from_pretrained(self.model_dir)
        self.encoder = WhisperModel.from_pretrained(self.model_dir, dtype=torch.float32).get_encoder()
        self.max_mel_frames = min(int(max_seconds * SAMPLE_RATE / HOP), 2 * self.encoder.config.max_source_positions)
        self.eval()

    @property
    def dim(self) -> int:
        return int(self.encoder.config.d_model)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def mel_frames(self, samples: int) -> int:
        """The mel frames `log_mel` gives a clip of this many samples (at least 2, at most the window)."""
        return min(max(samples, 2 * HOP) // HOP, self.max_mel_frames)

    def log_mel(self, waveforms: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, n_mels, T) features padded with zeros after each clip's end, and frame counts.

        Each clip gets its own log-mel (Whisper normalises per clip), so a batch never changes
        a clip's features.
        """
        mels = []
        for wave in waveforms:
            wave = np.asarray(wave, dtype=np.float32)[: self.max_mel_frames * HOP]
            if len(wave) < 2 * HOP:
                wave = np.pad(wave, (0, 2 * HOP - len(wave)))
            mel = self.feature_extractor(
                wave, sampling_rate=SAMPLE_RATE, padding="longest", return_tensors="np"
            ).input_features[0]
            mels.append(mel[:, : self.max_mel_frames])
        lengths = torch.tensor([m.shape[1] for m in mels])
        batch = np.zeros((len(mels), mels[0].shape[0], int(lengths.max())), dtype=np.float32)
        for i, mel in enumerate(mels):
            batch[i, :, : mel.shape[1]] = mel
        return torch.from_numpy(batch), lengths

    def forward(self, mel: torch.Tensor, mel_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder states (B, T', d) and their frame mask (B, T'), T' = ceil(T / 2)."""
        enc = self.encoder
        mel = mel.to(self.device)
        steps = torch.arange(mel.shape[-1], device=mel.device)
        mel_mask = (steps[None, :] < mel_lengths.to(mel.device)[:, None]).to(mel.dtype)
        x = nn.functional.gelu(enc.conv1(mel * mel_mask[:, None, :])) * mel_mask[:, None, :]
        x = nn.functional.gelu(enc.conv2(x))
        out_lengths = frames_after_convs(mel_lengths.to(mel.device))
        frame_mask = (torch.arange(x.shape[-1], device=mel.device)[None, :] < out_lengths[:, None]).to(x.dtype)
        x = (x * frame_mask[:, None, :]).transpose(1, 2)
        x = x + enc.embed_positions.weight[: x.shape[1]]
        bias = key_padding_bias(frame_mask, x.dtype)
        for layer in enc.layers:
            x = layer(x, attention_mask=bias)
            x = x[0] if isinstance(x, tuple) else x
        return enc.layer_norm(x), frame_mask

    @torch.inference_mode()
    def encode(self, waveforms: list[np.ndarray], batch_size: int = 16) -> list[np.ndarray]:
        """Per-clip float32 arrays (frames, d) of real length; batches grouped by length."""
        out: list[np.ndarray] = [np.zeros(0)] * len(waveforms)
        for idx in length_sorted_batches(waveforms, batch_size):
            mel, lengths = self.log_mel([waveforms[i] for i in idx])
            hidden, mask = self(mel, lengths)
            for row, i in enumerate(idx):
                out[i] = hidden[row, : int(mask[row].sum())].float().cpu().numpy()
        return out
