"""A SEAL model's life on disk: building one on its base models, saving and loading checkpoints,
and the fingerprints that tie trained weights to the base models they were trained on.

A checkpoint is a folder: `config.json` (every architectural choice and both base models'
fingerprints) and `model.safetensors` holding only what training changed (`trained_state`).
Loading onto other base models is refused: the weights would run, and compute nonsense.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import torch

from seal_model.device import use_exact_float32
from seal_model.config import SealConfig
from seal_model.model import SealModel
from seal_model.speech_encoder import WhisperSpeechEncoder
from seal_model.text_encoder import TextEncoder

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
# Checkpoints from before the stock text tower named the projection "shared" (it sat on both towers).
LEGACY_KEYS = {"shared.": "projection."}


# Keys a config.json records about the software that wrote it, not about the model: `models prepare`
# converts the same package with whatever transformers is installed, and transformers 5.25 writing
# "5.25.0" where 5.24 wrote "5.24.0" made the shipped checkpoint refuse identical weights (stop 37).
WRITER_KEYS = ("transformers_version", "_name_or_path")


def _weights_digest(model_dir: Path, digest: "hashlib._Hash") -> str:
    for weights in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        digest.update(str(weights.stat().st_size).encode())
        with open(weights, "rb") as fh:
            digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:16]


def fingerprint(model_dir: str | Path) -> str:
    """Cheap identity of a base model folder: its config (less the writer's version) and the
    size/head of its weights."""
    model_dir = Path(model_dir)
    config = {k: v for k, v in json.loads((model_dir / "config.json").read_text()).items() if k not in WRITER_KEYS}
    return _weights_digest(model_dir, hashlib.sha256(json.dumps(config, sort_keys=True).encode()))


def legacy_fingerprint(model_dir: str | Path) -> str:
    """The fingerprint checkpoints written before stop 37 hold: the config's bytes as they are."""
    model_dir = Path(model_dir)
    return _weights_digest(model_dir, hashlib.sha256((model_dir / "config.json").read_bytes()))


def config_from_dict(values: dict) -> SealConfig:
    """A config from its JSON; legacy checkpoints say `shared_layer` for a projection applied to
    both towers."""
    values = dict(values)
    if "shared_layer" in values:
        values.pop("shared_layer")
        values.setdefault("projection", "shared")
    return SealConfig(**values)


def new_model(whisper_dir: str | Path, text_dir: str | Path, with_speech_encoder: bool = True, **choices) -> SealModel:
    """A fresh model on the base models. Training on cached features passes
    `with_speech_encoder=False`: Whisper's width comes from its config, its weights (600M
    parameters for large-v3) are never built."""
    from transformers import WhisperConfig

    speech = WhisperSpeechEncoder(whisper_dir) if with_speech_encoder else None
    text = TextEncoder(text_dir)
    config = SealConfig(
        whisper_name=Path(whisper_dir).name, whisper_fingerprint=fingerprint(whisper_dir),
        text_encoder_name=Path(text_dir).name, text_encoder_fingerprint=fingerprint(text_dir),
        whisper_dim=int(WhisperConfig.from_pretrained(whisper_dir).d_model),
        text_dim=text.dim, **choices,
    )
    return SealModel(config, speech, text)


def save_checkpoint(model: SealModel, folder: str | Path) -> Path:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(asdict(model.config), indent=2))
    save_file(model.trained_state(), str(folder / WEIGHTS_FILE))
    return folder


def save_half_precision(src: str | Path, dst: str | Path) -> None:
    """Write a weights file as float16: the shipped copy lives in git, where float32 doubled it
    past 50 MB. Loading copies it into the float32 parameters, so the model still runs in float32."""
    from safetensors.torch import load_file, save_file

    save_file({k: v.half().contiguous() for k, v in load_file(str(src)).items()}, str(dst))


def _check_base_models(folder: Path, config: SealConfig, whisper_dir: str | Path, text_dir: str | Path) -> None:
    for label, path, expected in (
        ("Whisper", whisper_dir, config.whisper_fingerprint),
        ("text encoder", text_dir, config.text_encoder_fingerprint),
    ):
        actual = fingerprint(path)
        if expected not in (actual, legacy_fingerprint(path)):
            raise ValueError(
                f"checkpoint {folder} was trained on a different {label} "
                f"(fingerprint {expected}, got {actual} from {path}); retrain or point at the matching model"
            )


def load_checkpoint(
    folder: str | Path, whisper_dir: str | Path, text_dir: str | Path,
    device: str | torch.device = "cpu", with_speech_encoder: bool = True,
) -> SealModel:
    """Trained weights on the base models, refusing base models they were not trained on.
    Training on cached Whisper features passes `with_speech_encoder=False`: the Whisper weights
    are still fingerprinted but not built."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config = config_from_dict(json.loads((folder / CONFIG_FILE).read_text()))
    _check_base_models(folder, config, whisper_dir, text_dir)
    speech = WhisperSpeechEncoder(whisper_dir) if with_speech_encoder else None
    model = SealModel(config, speech, TextEncoder(text_dir))
    weights = {}
    for key, value in load_file(str(folder / WEIGHTS_FILE)).items():
        for old, new in LEGACY_KEYS.items():
            key = new + key[len(old):] if key.startswith(old) else key
        weights[key] = value
    missing, unexpected = model.load_state_dict(weights, strict=False)
    expected_keys = set(model.trained_state())
    if unexpected or expected_keys & set(missing):
        raise ValueError(f"checkpoint {folder} does not match its config (missing "
                         f"{sorted(expected_keys & set(missing))[:3]}, unexpected {unexpected[:3]})")
    if torch.device(device).type == "cuda":
        use_exact_float32()  # callers that pass "cuda" directly get CPU-matching results too
    return model.to(device).eval()
