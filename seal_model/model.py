"""SEAL: a speech tower trained into a stock text encoder's embedding space.

    speech: Whisper encoder (trimmed) -> Conv1D adapter (stride shortens time) -> length adapter
            -> text encoder's transformer layers -> mean pool -> speech projection -> L2 norm
    text:   the text encoder exactly as shipped (word embeddings -> layers -> mean pool -> L2 norm)

The text tower is stock: passages are embedded as any tool using that encoder would, typed and
ASR queries keep the encoder's own quality, and a new speech checkpoint needs no reindex.
(`projection="shared"` puts the trained projection on both towers, as legacy checkpoints do.)

The length adapter is the design choice that matters at small data sizes:
- "conv": an MLP maps every conv frame into the text encoder's input space (the paper's
  adapter read literally). Many more frames than word pieces, learned from sentence-level
  targets only.
- "ctc": a CTC head over the text encoder's word pieces (AlignFormer-style): frames whose
  greedy label is blank or a repeat are dropped, so the sequence shrinks to the word-piece
  rate, and each kept frame becomes the probability-weighted mix of the text encoder's own
  word embeddings (plus a learned MLP residual). CTC gives dense, token-level supervision,
  and the text transformer then sees inputs in the distribution it was trained on.

The CTC head's classes: blank, the K most frequent word pieces (a row each), and, with
`ctc_full_vocab`, every other word piece of the vocabulary, so any name can be spelled. The
rare pieces are scored through the text encoder's own (frozen) word embeddings, factorised
behind the head's "other" class: log P(piece) = log P(other) + log softmax(g(frame) . E_piece
+ b_piece). Why factorised: a full 30k-row output layer would triple the checkpoint (it lives
in git), rare pieces borrow what MiniLM already knows about them, and a checkpoint trained
with the "other" bucket keeps its exact function when the tail is added.

Only the adapter, the CTC head, the projection and any fine-tuned text layers are trained;
a checkpoint stores just those, with the base models' fingerprints (`seal_model.checkpoint`);
growing a trained model without changing its function is `seal_model.growth`.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from seal_model.batching import length_sorted_batches
from seal_model.config import SealConfig
from seal_model.audio import SAMPLE_RATE
from seal_model.speech_encoder import WhisperSpeechEncoder, frames_after_convs, key_padding_bias
from seal_model.text_encoder import TextEncoder, masked_mean

def rare_word_pieces(tokenizer, frequent: list[int]) -> list[int]:
    """Every spellable word piece not among `frequent`: the tokenizer's vocabulary minus its
    special and unused ([unusedN]) entries."""
    special = set(tokenizer.all_special_ids) | set(frequent)
    return [i for token, i in sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
            if i not in special and not token.startswith("[unused")]


def conv_lengths(lengths: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    padding = kernel // 2
    return (lengths + 2 * padding - kernel) // stride + 1


def identity_start_layer(width: int) -> nn.TransformerEncoderLayer:
    """A pre-norm transformer layer whose residual branches start at zero, so it computes the
    identity until trained: adding it to a trained adapter changes nothing at step 0."""
    layer = nn.TransformerEncoderLayer(width, nhead=8, dim_feedforward=4 * width, dropout=0.1,
                                       activation="gelu", batch_first=True, norm_first=True)
    for linear in (layer.self_attn.out_proj, layer.linear2):
        nn.init.zeros_(linear.weight)
        nn.init.zeros_(linear.bias)
    return layer


class SpeechAdapter(nn.Module):
    """LayerNorm -> Conv1D (stride) -> GELU -> [transformer layers] -> MLP into the text
    encoder's input space (+ CTC head).

    The optional transformer layers give the CTC head context across frames: SEAL retrieves
    about as well as its own greedy CTC reading does, so recognition, not the text side, is what
    limits it (docs/results/adapter-layers, docs/results/ctc-phase).
    """

    def __init__(self, config: SealConfig):
        super().__init__()
        self.config = config
        self.norm = nn.LayerNorm(config.whisper_dim)
        self.conv = nn.Conv1d(
            config.whisper_dim, config.conv_channels, config.conv_kernel,
            stride=config.conv_stride, padding=config.conv_kernel // 2,
        )
        self.mlp = nn.Sequential(
            nn.Linear(config.conv_channels, config.adapter_hidden), nn.GELU(),
            nn.Linear(config.adapter_hidden, config.text_dim),
        )
        if config.length_adapter == "ctc":
            nn.init.zeros_(self.mlp[-1].weight)  # start from pure word-embedding mixes
            nn.init.zeros_(self.mlp[-1].bias)
            # classes: 0 = blank, 1..K = ctc_vocab, K+1 = any other word piece
            self.ctc_head = nn.Sequential(
                nn.Linear(config.conv_channels, config.conv_channels), nn.GELU(),
                nn.Linear(config.conv_channels, len(config.ctc_vocab) + 2),
            )
            if config.ctc_full_vocab:  # the "other" class split over every rare word piece
                self.rare_query = nn.Linear(config.conv_channels, config.text_dim)
                nn.init.zeros_(self.rare_query.weight)  # starts uniform over the rare pieces
                nn.init.zeros_(self.rare_query.bias)
        self.layers = nn.ModuleList(identity_start_layer(config.conv_channels) for _ in range(config.adapter_layers))

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, d_whisper) -> conv frames (B, T', C) and their mask."""
        x = self.norm(states) * mask[..., None]
        x = nn.functional.gelu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        lengths = conv_lengths(mask.sum(1).long(), self.config.conv_kernel, self.config.conv_stride)
        out_mask = (torch.arange(x.shape[1], device=x.device)[None] < lengths[:, None]).to(x.dtype)
        x = x * out_mask[..., None]
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=out_mask == 0) * out_mask[..., None]
        return x, out_mask


@dataclass
class SpeechOutput:
    embedding: torch.Tensor  # (B, d) normalised
    ctc_log_probs: torch.Tensor | None = None  # (B, T', classes)
    ctc_lengths: torch.Tensor | None = None


class SealModel(nn.Module):
    def __init__(self, config: SealConfig, speech_encoder: WhisperSpeechEncoder | None, text_encoder: TextEncoder):
        super().__init__()
        self.config = config
        self.speech_encoder = speech_encoder
        self.text_encoder = text_encoder
        for module in (speech_encoder, text_encoder):
            if module is not None:
                module.requires_grad_(False)
        self.adapter = SpeechAdapter(config)
        if config.projection not in ("speech", "shared"):
            raise ValueError(f"unknown projection {config.projection!r} (speech | shared)")
        self.projection = nn.Linear(config.text_dim, config.text_dim)
        nn.init.eye_(self.projection.weight)
        nn.init.zeros_(self.projection.bias)
        layers = self.text_encoder.transformer.encoder.layer
        n_top = config.trainable_text_layers
        self.frozen_layers = list(layers)[: len(layers) - n_top]
        self.speech_top_layers = nn.ModuleList(copy.deepcopy(layer) for layer in list(layers)[len(layers) - n_top :])
        self.speech_top_layers.requires_grad_(True)
        rare = rare_word_pieces(text_encoder.tokenizer, config.ctc_vocab) if config.ctc_full_vocab else []
        # token id of every CTC class after blank: the frequent pieces, then the rare ones
        self.register_buffer("ctc_ids", torch.tensor([0] + list(config.ctc_vocab) + rare, dtype=torch.long), persistent=False)
        if config.ctc_full_vocab:
            self.adapter.rare_bias = nn.Parameter(torch.zeros(len(rare)))

    def trained_state(self) -> dict[str, torch.Tensor]:
        """Only what training changes: adapter, CTC head, shared layer, fine-tuned text layers."""
        keep = ("adapter.", "projection.", "speech_top_layers.")
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items() if k.startswith(keep)}

    @property
    def device(self) -> torch.device:
        return self.projection.weight.device

    @property
    def text_fingerprint(self) -> str:
        """Identity of the text tower: vectors made by towers with different fingerprints do not
        live in the same space. With the stock text tower it is the text encoder's alone, so
        every speech checkpoint trained against that encoder shares an index."""
        if self.config.projection == "speech":
            return self.config.text_encoder_fingerprint
        digest = hashlib.sha256(self.config.text_encoder_fingerprint.encode())
        for tensor in (self.projection.weight, self.projection.bias):
            digest.update(tensor.detach().cpu().float().numpy().tobytes())
        return digest.hexdigest()[:16]

    @property
    def dim(self) -> int:
        return self.config.text_dim

    # ----- towers -------------------------------------------------------------------------
    def project_speech(self, pooled: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.projection(pooled), dim=-1)

    def project_text(self, pooled: torch.Tensor) -> torch.Tensor:
        """The text encoder's pooled vector -> the shared space: plain L2 normalisation (the
        encoder's own output) unless a legacy checkpoint put its layer on this side too."""
        return self.project_speech(pooled) if self.config.projection == "shared" else nn.functional.normalize(pooled, dim=-1)

    def text_forward(self, texts: list[str]) -> torch.Tensor:
        return self.project_text(self.text_encoder.forward_features(texts))

    def ctc_log_probs(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T', classes) log-probabilities: blank, frequent pieces, then (full vocabulary)
        the rare pieces in place of "other", each log P(other) + log P(piece | other)."""
        head = self.adapter.ctc_head(frames).log_softmax(-1)
        if not self.config.ctc_full_vocab:
            return head
        rare_embeddings = self._embedding_rows("rare", lambda: self.ctc_ids[len(self.config.ctc_vocab) + 1 :])
        rare = (self.adapter.rare_query(frames) @ rare_embeddings.T + self.adapter.rare_bias).log_softmax(-1)
        return torch.cat([head[..., :-1], rare + head[..., -1:]], dim=-1)

    def greedy_labels(self, log_probs: torch.Tensor) -> torch.Tensor:
        """Best class per frame, decided as the head was trained: blank, a frequent piece or
        "other" first, then, for "other", the best rare piece. (A flat argmax would let the rare
        mass, spread over 20k pieces, lose to blank where the head says "a rare word here".)"""
        if not self.config.ctc_full_vocab:
            return log_probs.argmax(-1)
        first_rare = len(self.config.ctc_vocab) + 1
        other = log_probs[..., first_rare:].logsumexp(-1, keepdim=True)
        labels = torch.cat([log_probs[..., :first_rare], other], dim=-1).argmax(-1)
        return torch.where(labels == first_rare, log_probs[..., first_rare:].argmax(-1) + first_rare, labels)

    def _class_ids(self) -> torch.Tensor:
        """The word piece of every non-blank CTC class; the "other" class mixes in [UNK]'s embedding."""
        ids = self.ctc_ids[1:]
        if not self.config.ctc_full_vocab:
            ids = torch.cat([ids, ids.new_tensor([self.text_encoder.tokenizer.unk_token_id])])
        return ids

    def _embedding_rows(self, name: str, ids: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Word-embedding rows for the CTC classes. Outside training the gathered matrix is kept:
        with the full vocabulary it is 30k x 384 floats, and copying it twice per query took about
        a tenth of SEAL's query time on 2 CPU threads. Kept per weight version, so a weight that
        changes (training) is gathered again."""
        weight = self._word_embeddings().weight
        if self.training or torch.is_grad_enabled():
            return weight[ids()]
        cache = self.__dict__.setdefault("_rows_cache", {})
        key = (name, weight.data_ptr(), weight._version, weight.device, weight.dtype)
        if cache.get(name, (None,))[0] != key:
            cache[name] = (key, weight[ids()])
        return cache[name][1]

    def _word_embeddings(self) -> nn.Embedding:
        return self.text_encoder.transformer.embeddings.word_embeddings

    def _wrap_special(self, inputs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Put the text encoder's [CLS] ... [SEP] around each sequence, as its tokenizer does."""
        tok = self.text_encoder.tokenizer
        emb = self._word_embeddings()
        cls_vec = emb.weight[tok.cls_token_id] if tok.cls_token_id is not None else None
        sep_vec = emb.weight[tok.sep_token_id] if tok.sep_token_id is not None else None
        lengths = mask.sum(1).long()
        batch, steps, dim = inputs.shape
        extra = int(cls_vec is not None) + int(sep_vec is not None)
        out = inputs.new_zeros(batch, steps + extra, dim)
        out_mask = mask.new_zeros(batch, steps + extra)
        offset = int(cls_vec is not None)
        out[:, offset : offset + steps] = inputs
        if cls_vec is not None:
            out[:, 0] = cls_vec
        for i in range(batch):
            if sep_vec is not None:
                out[i, offset + lengths[i]] = sep_vec
            out_mask[i, : lengths[i] + extra] = 1
        return out, out_mask

    def _collapse(self, frames: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """CTC length adapter: keep frames whose greedy label is a new non-blank class."""
        log_probs = self.ctc_log_probs(frames)
        labels = self.greedy_labels(log_probs).masked_fill(mask == 0, 0)
        previous = torch.nn.functional.pad(labels[:, :-1], (1, 0), value=0)
        keep = (labels != 0) & (labels != previous)
        # Only kept frames go on, and both terms are per frame: mix and map just those (the same
        # numbers; the 30k-class mix over every frame was a large share of a query's time).
        kept_log_probs = log_probs[keep]  # (N, classes), batch rows in order
        probs = kept_log_probs[:, 1:].exp()  # drop blank
        probs = probs / probs.sum(-1, keepdim=True).clamp(min=1e-6)
        kept = probs @ self._embedding_rows("classes", self._class_ids) + self.adapter.mlp(frames[keep])  # (N, d)
        counts = keep.sum(1)
        steps = max(int(counts.max()), 1)
        out = kept.new_zeros(frames.shape[0], steps, kept.shape[-1])
        out_mask = mask.new_zeros(frames.shape[0], steps)
        start = 0
        for i, count in enumerate(counts.tolist()):
            out[i, :count] = kept[start:start + count]
            out_mask[i, :count] = 1
            start += count
        return out, out_mask, log_probs, mask.sum(1).long()

    def ctc_forward(self, states: torch.Tensor, mask: torch.Tensor) -> SpeechOutput:
        """CTC outputs only, skipping the text transformer: the cheap warm-up that teaches the
        head where word pieces are before the collapse is used to shorten sequences."""
        frames, frame_mask = self.adapter(states.to(self.device).float(), mask.to(self.device).float())
        return SpeechOutput(frames.new_zeros(0), self.ctc_log_probs(frames), frame_mask.sum(1).long())

    def text_layer_inputs(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """The sequence the text encoder's layers read (inputs, mask, with [CLS]/[SEP]) and the
        CTC outputs where the length adapter has them: adapter, then collapse or MLP."""
        frames, frame_mask = self.adapter(states.to(self.device).float(), mask.to(self.device).float())
        ctc_log_probs = ctc_lengths = None
        if self.config.length_adapter == "ctc":
            inputs, seq_mask, ctc_log_probs, ctc_lengths = self._collapse(frames, frame_mask)
        else:
            inputs, seq_mask = self.adapter.mlp(frames), frame_mask
        inputs, seq_mask = self._wrap_special(inputs, seq_mask)
        return inputs, seq_mask, ctc_log_probs, ctc_lengths

    def speech_forward(self, states: torch.Tensor, mask: torch.Tensor) -> SpeechOutput:
        """Whisper encoder states (B, T, d) with frame mask -> embeddings (+ CTC outputs)."""
        inputs, seq_mask, ctc_log_probs, ctc_lengths = self.text_layer_inputs(states, mask)
        bert = self.text_encoder.transformer
        hidden = bert.embeddings(inputs_embeds=inputs)
        bias = key_padding_bias(seq_mask, hidden.dtype)
        for layer in list(self.frozen_layers) + list(self.speech_top_layers):
            hidden = layer(hidden, attention_mask=bias)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        pooled = self._pool(hidden, seq_mask)
        return SpeechOutput(self.project_speech(pooled), ctc_log_probs, ctc_lengths)

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean matches how the text tower pools (MiniLM's sentence-transformers recipe); max and
        [CLS] are the alternatives the pooling ablation compares."""
        if self.config.speech_pooling == "mean":
            return masked_mean(hidden, mask)
        if self.config.speech_pooling == "max":
            return hidden.masked_fill(mask[..., None] == 0, torch.finfo(hidden.dtype).min).amax(1)
        if self.config.speech_pooling == "cls":
            return hidden[:, 0]
        raise ValueError(f"unknown speech_pooling {self.config.speech_pooling!r} (mean | max | cls)")

    # ----- public encode API -----------------------------------------------------------------
    @torch.inference_mode()
    def embed_speech(self, waveforms: list[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """16 kHz mono float arrays -> (n, d) float32, L2-normalised; batches grouped by length."""
        if self.speech_encoder is None:
            raise RuntimeError("this model was built without a Whisper encoder (features-only training)")
        out = np.zeros((len(waveforms), self.config.text_dim), dtype=np.float32)
        for idx in length_sorted_batches(waveforms, batch_size):
            mel, lengths = self.speech_encoder.log_mel([waveforms[i] for i in idx])
            states, mask = self.speech_encoder(mel, lengths)
            out[idx] = self.speech_forward(states, mask).embedding.float().cpu().numpy()
        return out

    def read(self, output: SpeechOutput) -> list[str]:
        """Greedy CTC reading of the word pieces the length adapter kept (empty for "conv").

        A by-product of the same forward pass, not a transcription step: it lets a text-only
        LLM see roughly what was asked without running an ASR decoder.
        """
        if output.ctc_log_probs is None:
            return [""] * output.embedding.shape[0]
        labels = self.greedy_labels(output.ctc_log_probs).cpu()
        token_of = self.ctc_ids.tolist()
        other = None if self.config.ctc_full_vocab else len(self.config.ctc_vocab) + 1
        texts = []
        for row, length in zip(labels, output.ctc_lengths.cpu()):
            ids, previous = [], 0
            for label in row[: int(length)].tolist():
                if label != previous and label not in (0, other):
                    ids.append(token_of[label])
                previous = label
            texts.append(self.text_encoder.tokenizer.decode(ids).strip())
        return texts

    @torch.inference_mode()
    def embed_and_read_speech(self, waveforms: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
        """Embeddings plus the CTC reading of each clip, from one forward pass per batch."""
        if self.speech_encoder is None:
            raise RuntimeError("this model was built without a Whisper encoder (features-only training)")
        vectors, readings, _states = self.embed_read_and_encode(waveforms)
        return vectors, readings

    @torch.inference_mode()
    def embed_read_and_encode(self, waveforms: list[np.ndarray], silence_s: float = 0.0
                              ) -> tuple[np.ndarray, list[str], list[torch.Tensor]]:
        """`embed_and_read_speech` plus each clip's Whisper encoder states (T_i, d), unpadded, so
        Whisper's decoder can transcribe the clip without a second encoder pass.

        `silence_s`: seconds of silence appended to each clip before the encoder pass, as Whisper's
        own 30 s padding does, only shorter: Whisper's decoder reads states followed by some silence
        far better (the app's `decoder_silence_s` setting). The states returned include it; SEAL's vector and
        reading come from the speech frames only, as in training."""
        if self.speech_encoder is None:
            raise RuntimeError("this model was built without a Whisper encoder (features-only training)")
        tail = np.zeros(round(silence_s * SAMPLE_RATE), dtype=np.float32)
        mel, lengths = self.speech_encoder.log_mel([np.concatenate([w, tail]) for w in waveforms] if len(tail) else waveforms)
        states, mask = self.speech_encoder(mel, lengths)
        speech_mask = mask
        if len(tail):
            # the frames each clip has without the silence
            speech = frames_after_convs(torch.tensor([self.speech_encoder.mel_frames(len(w)) for w in waveforms], device=mask.device))
            speech_mask = (torch.arange(mask.shape[1], device=mask.device)[None, :] < speech[:, None]).to(mask.dtype)
        output = self.speech_forward(states, speech_mask)
        per_clip = [row[: int(n)] for row, n in zip(states, mask.sum(dim=1))]
        return output.embedding.float().cpu().numpy(), self.read(output), per_clip

    @torch.inference_mode()
    def embed_text(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.config.text_dim), dtype=np.float32)
        for idx in length_sorted_batches(texts, batch_size, longest_first=True):
            out[idx] = self.text_forward([texts[i] for i in idx]).float().cpu().numpy()
        return out
