"""Pilot (stop 27, not shipped; docs/results/ood-generalisation/README.md): Whisper's own decoder as SEAL's speech adapter ("decoder queries").

speech: trimmed Whisper encoder states -> frozen Whisper decoder reading [SOT, en, transcribe,
notimestamps] + K learned query vectors (one parallel pass, no autoregression) -> final hidden
states of the K queries -> mean -> linear -> L2 norm, trained to land on the stock MiniLM vector
of the clip's text (cosine + in-batch InfoNCE over the batch's text vectors).

Why: the decoder's cross-attention and layers learned English words from 680k h of real speech;
a few thousand learned parameters over it should overfit the TTS training voices far less than
an adapter + CTC head learned from 34 h of TTS.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root
from seal_model.data.speech_cache import load_shard, selected_shard_paths  # noqa: E402
from seal_model.data.training_data import pooled_text_vectors  # noqa: E402
from seal_model.speech_encoder import key_padding_bias  # noqa: E402
from seal_model.text_encoder import TextEncoder  # noqa: E402


class DecoderQueries(nn.Module):
    def __init__(self, whisper_dir: Path, text_dim: int, queries: int = 32, train_layers: str = "none"):
        super().__init__()
        from transformers import WhisperForConditionalGeneration, WhisperTokenizer

        full = WhisperForConditionalGeneration.from_pretrained(whisper_dir, dtype=torch.float32)
        self.decoder = full.model.decoder
        tok = WhisperTokenizer.from_pretrained(whisper_dir)
        prompt = tok.convert_tokens_to_ids(["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"])
        self.register_buffer("prompt", torch.tensor(prompt), persistent=False)
        self.decoder.requires_grad_(False)
        if train_layers == "xattn":  # the cross-attention blocks learn to read trimmed TTS states
            for layer in self.decoder.layers:
                layer.encoder_attn.requires_grad_(True)
                layer.encoder_attn_layer_norm.requires_grad_(True)
        elif train_layers == "top":
            self.decoder.layers[-1].requires_grad_(True)
        emb = self.decoder.embed_tokens.weight
        # queries start as the embeddings of frequent word tokens (in-distribution inputs)
        g = torch.Generator().manual_seed(0)
        pick = torch.randint(300, 5000, (queries,), generator=g)
        self.queries = nn.Parameter(emb[pick].detach().clone())
        d = emb.shape[1]
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, text_dim))

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch = states.shape[0]
        prompt = self.decoder.embed_tokens(self.prompt)[None].expand(batch, -1, -1)
        x = torch.cat([prompt, self.queries[None].expand(batch, -1, -1)], dim=1)
        steps = x.shape[1]
        x = x + self.decoder.embed_positions.weight[:steps]
        causal = torch.full((steps, steps), torch.finfo(x.dtype).min).triu(1)[None, None]
        enc_bias = key_padding_bias(mask, x.dtype)
        for layer in self.decoder.layers:
            x = layer(x, attention_mask=causal, encoder_hidden_states=states, encoder_attention_mask=enc_bias, use_cache=False)
            x = x[0] if isinstance(x, tuple) else x
        x = self.decoder.layer_norm(x)[:, len(self.prompt):]
        return nn.functional.normalize(self.head(x.mean(1)), dim=-1)


def collate(clips, rng: random.Random | None):
    steps = max(len(c.features) for c in clips)
    feats = np.zeros((len(clips), steps, clips[0].features.shape[1]), np.float32)
    mask = np.zeros((len(clips), steps), np.float32)
    for i, c in enumerate(clips):
        n = len(c.features)
        feats[i, :n] = c.features
        mask[i, :n] = 1
        if rng is not None:  # SpecAugment: two time spans and one channel band
            for _ in range(2):
                span = rng.randint(0, max(1, n // 20))
                s = rng.randint(0, max(0, n - span))
                feats[i, s : s + span] = 0
            band = rng.randint(0, feats.shape[2] * 6 // 100)
            lo = rng.randint(0, feats.shape[2] - band)
            feats[i, :n, lo : lo + band] = 0
    return torch.from_numpy(feats), torch.from_numpy(mask)


class PilotEmbedder:
    """What `evaluation.evaluate` needs from a SEAL model."""

    def __init__(self, model: DecoderQueries, encoder, text: TextEncoder, fingerprint: str):
        self.model, self.encoder, self.text = model, encoder, text
        self.text_fingerprint = fingerprint
        self.device = torch.device("cpu")

    @torch.inference_mode()
    def embed_and_read_speech(self, waves):
        mel, lengths = self.encoder.log_mel(waves)
        states, mask = self.encoder(mel, lengths)
        return self.model(states, mask).numpy(), [""] * len(waves)

    @torch.inference_mode()
    def embed_text(self, texts, batch_size: int = 64):
        out = []
        for s in range(0, len(texts), batch_size):
            out.append(nn.functional.normalize(self.text.forward_features(texts[s : s + batch_size]), dim=-1).numpy())
        return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=str(Path.home() / ".cache/seal-rag/data/speech/whisper-base-augmented"))
    ap.add_argument("--models", default=str(Path.home() / ".cache/seal-rag/models"))
    ap.add_argument("--run", required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--queries", type=int, default=32)
    ap.add_argument("--train-layers", default="none")
    ap.add_argument("--max-shards", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=0.05)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    models = Path(args.models)
    whisper_dir = next(p for p in models.iterdir() if p.name.startswith("whisper"))
    text_dir = next(p for p in models.iterdir() if "MiniLM" in p.name or "minilm" in p.name)
    text = TextEncoder(text_dir)
    model = DecoderQueries(whisper_dir, text.transformer.config.hidden_size, args.queries, args.train_layers)
    trainable = [p for p in model.parameters() if p.requires_grad]
    print(f"trainable {sum(p.numel() for p in trainable):,} parameters", flush=True)
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.01)
    state_file = run / "state.pt"
    step = 0
    if state_file.exists():
        saved = torch.load(state_file)
        model.load_state_dict(saved["model"], strict=False)
        opt.load_state_dict(saved["opt"])
        step = saved["step"]
        print(f"resumed at step {step}", flush=True)
    rng = random.Random(step)
    clips, loaded = [], 0
    vectors: dict[str, np.ndarray] = {}

    class Holder:  # pooled_text_vectors wants model.text_encoder
        text_encoder = text

    def refresh():
        nonlocal clips, loaded, vectors
        paths = selected_shard_paths(Path(args.cache), args.max_shards, None)
        if len(paths) > loaded:
            for p in paths[loaded:]:
                clips += [c for c in load_shard(p) if c.item.split == "train"]
            loaded = len(paths)
            vectors = pooled_text_vectors(Holder, [c.item.text for c in clips], Path(args.cache).parent / "dq_text_vectors.npz", print)
            print(f"{len(clips)} train clips from {loaded} shards", flush=True)

    refresh()
    log = open(run / "loss.csv", "a")
    warm = 50
    model.train()
    t0 = time.time()
    while step < args.steps:
        if step % 100 == 0:
            refresh()
        batch = rng.sample(clips, args.batch)
        batch.sort(key=lambda c: len(c.features))
        feats, mask = collate(batch, rng)
        target = nn.functional.normalize(torch.from_numpy(np.stack([vectors[c.item.text] for c in batch])).float(), dim=-1)
        out = model(feats, mask)
        cos = (out * target).sum(-1)
        logits = out @ target.T / args.temperature
        same = torch.tensor([[a.item.text == b.item.text for b in batch] for a in batch])
        logits = logits.masked_fill(same & ~torch.eye(len(batch), dtype=torch.bool), -1e4)
        nce = nn.functional.cross_entropy(logits, torch.arange(len(batch)))
        loss = (1 - cos).mean() + nce
        lr = args.lr * min(1, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        step += 1
        log.write(f"{step},{loss.item():.4f},{cos.mean().item():.4f},{nce.item():.4f}\n")
        log.flush()
        if step % 10 == 0:
            print(f"step {step} loss {loss.item():.3f} cos {cos.mean().item():.3f} nce {nce.item():.3f} {(time.time()-t0)/10:.1f}s/step", flush=True)
            t0 = time.time()
        if step % 50 == 0 or step == args.steps:
            torch.save({"model": {k: v for k, v in model.state_dict().items() if not k.startswith("decoder.") or args.train_layers != "none"},
                        "opt": opt.state_dict(), "step": step}, state_file.with_suffix(".tmp"))
            state_file.with_suffix(".tmp").replace(state_file)
    print("done", flush=True)


def evaluate_run() -> None:
    """`python decoder_queries.py eval --run R --set S --limit N --json F`: the project's own
    `evaluation.evaluate` on a pilot run (stock MiniLM for the passages)."""
    import dataclasses

    from evaluation.evaluate import evaluate, format_report
    from seal_model.data.eval_set import load_eval_set
    from seal_model.speech_encoder import WhisperSpeechEncoder

    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--set", required=True)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--json", required=True)
    ap.add_argument("--queries", type=int, default=32)
    ap.add_argument("--train-layers", default="none")
    ap.add_argument("--models", default=str(Path.home() / ".cache/seal-rag/models"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(sys.argv[2:])
    torch.set_num_threads(args.threads)
    models = Path(args.models)
    whisper_dir = next(p for p in models.iterdir() if p.name.startswith("whisper"))
    text_dir = next(p for p in models.iterdir() if "minilm" in p.name.lower())
    text = TextEncoder(text_dir)
    model = DecoderQueries(whisper_dir, text.transformer.config.hidden_size, args.queries, args.train_layers)
    model.load_state_dict(torch.load(Path(args.run) / "state.pt")["model"], strict=False)
    model.eval()
    fingerprint = json.loads((Path(__file__).resolve().parents[3] / "seal_model/checkpoints/default/config.json").read_text())["text_encoder_fingerprint"]
    embedder = PilotEmbedder(model, WhisperSpeechEncoder(whisper_dir).eval(), text, fingerprint)
    report = evaluate(load_eval_set(args.set), embedder, modes=("seal",), limit=args.limit)
    print(format_report(report))
    Path(args.json).write_text(json.dumps(dataclasses.asdict(report), indent=1))


if __name__ == "__main__":
    if sys.argv[1:2] == ["eval"]:
        evaluate_run()
    else:
        main()
