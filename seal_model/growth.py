"""Growing a trained SEAL model without changing what it computes: more fine-tuned text layers,
more adapter layers, the full CTC vocabulary, or a legacy checkpoint moved to the stock text
tower. Each new part starts where it is the identity (or splits a class evenly), so a warm start
from the grown model begins at exactly the checkpoint's function and training moves it from there.
"""
from __future__ import annotations

from dataclasses import asdict

import torch

from seal_model.model import SealModel


def _grown(model: SealModel, state: dict[str, torch.Tensor], **changes) -> SealModel:
    """A model with `changes` to the config, loaded with `state`; the parameters the state lacks
    keep their fresh, function-preserving initialisation."""
    config = type(model.config)(**{**asdict(model.config), **changes})
    grown = type(model)(config, model.speech_encoder, model.text_encoder)
    grown.load_state_dict(state, strict=False)
    return grown.to(model.device)


def with_trainable_text_layers(model: SealModel, n_top: int) -> SealModel:
    """The top `n_top` text layers fine-tunable on the speech side. The new copies start as the
    text encoder's own layers, so a warm start can add them to a shipped checkpoint."""
    added = n_top - model.config.trainable_text_layers
    if added < 0:
        raise ValueError(f"cannot drop fine-tuned text layers ({model.config.trainable_text_layers} -> {n_top})")
    state = {}
    for key, value in model.trained_state().items():
        if key.startswith("speech_top_layers."):  # already fine-tuned layers keep their place from the top
            _, index, rest = key.split(".", 2)
            key = f"speech_top_layers.{int(index) + added}.{rest}"
        state[key] = value
    return _grown(model, state, trainable_text_layers=n_top)


def with_adapter_layers(model: SealModel, n_layers: int) -> SealModel:
    """`n_layers` transformer layers in the speech adapter; new ones start as the identity
    (zeroed residual branches)."""
    if n_layers < model.config.adapter_layers:
        raise ValueError(f"cannot drop adapter layers ({model.config.adapter_layers} -> {n_layers})")
    return _grown(model, model.trained_state(), adapter_layers=n_layers)


def with_full_vocab(model: SealModel) -> SealModel:
    """The CTC "other" class split over every rare word piece. The split starts uniform and
    P(other) is unchanged, so every frequent piece, blank, and the embedding keep their values
    until training moves them (the greedy reading of a rare piece changes from nothing to one
    arbitrary rare piece)."""
    return _grown(model, model.trained_state(), ctc_full_vocab=True)


def with_speech_projection(model: SealModel) -> SealModel:
    """A legacy checkpoint (one trained layer on both towers) moved to the stock text tower: the
    text side drops the layer, and the speech side starts from the identity, since the two
    towers' pooled vectors were trained to meet before that layer."""
    state = {k: v for k, v in model.trained_state().items() if not k.startswith("projection.")}
    return _grown(model, state, projection="speech")


def grown_for_warm_start(model: SealModel, trainable_text_layers: int, adapter_layers: int,
                         ctc_full_vocab: bool, projection: str) -> SealModel:
    """What a warm start may add to its checkpoint (never remove): the checkpoint's architecture
    wins otherwise."""
    if trainable_text_layers > model.config.trainable_text_layers:
        model = with_trainable_text_layers(model, trainable_text_layers)
    if adapter_layers > model.config.adapter_layers:
        model = with_adapter_layers(model, adapter_layers)
    if ctc_full_vocab and not model.config.ctc_full_vocab and model.config.length_adapter == "ctc":
        model = with_full_vocab(model)
    if projection == "speech" and model.config.projection == "shared":
        model = with_speech_projection(model)
    return model
