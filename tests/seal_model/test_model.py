"""SEAL model contracts: shapes, trimmed encoding, batch invariance, checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rag_app.model_store import resolve_model_dir
from rag_app.settings import replace
from seal_model.voices import synthesize
from seal_model.checkpoint import load_checkpoint, new_model, save_checkpoint
from seal_model.growth import with_adapter_layers, with_trainable_text_layers
from seal_model.speech_encoder import WhisperSpeechEncoder

QUESTIONS = [
    ("flite:awb", "who played anne frank in the original movie?"),
    ("espeak:en-us", "what is the tallest mountain in north america and how high is it above sea level?"),
    ("flite:rms", "when was the eiffel tower built?"),
]


@pytest.fixture(scope="module")
def dirs(settings):
    return (
        resolve_model_dir(replace(settings, whisper="tiny.en"), "whisper"),
        resolve_model_dir(settings, "text_encoder"),
    )


@pytest.fixture(scope="module")
def waves():
    return [synthesize(voice, text) for voice, text in QUESTIONS]


@pytest.fixture(scope="module", params=["ctc", "conv"])
def model(request, dirs):
    torch.manual_seed(0)
    return new_model(*dirs, length_adapter=request.param, ctc_vocab=list(range(1000, 1500))).eval()


def test_embedding_shapes_and_norms(model, waves):
    speech = model.embed_speech(waves)
    text = model.embed_text([t for _, t in QUESTIONS])
    for array in (speech, text):
        assert array.shape == (3, 384) and array.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(array, axis=1), 1.0, atol=1e-5)


def test_batching_does_not_change_a_result(model, waves):
    alone = model.embed_speech([waves[0]])[0]
    batched = model.embed_speech(waves)[0]  # waves[1] is much longer, so waves[0] is padded
    assert float(alone @ batched) >= 0.999


def test_trimmed_encoder_is_whisper_at_full_length(dirs, waves):
    """At 30 s our trimmed path must compute exactly Whisper; shorter clips just drop padding."""
    encoder = WhisperSpeechEncoder(dirs[0])
    long_wave = np.tile(waves[1], 30 * 16000 // len(waves[1]) + 1)[: 30 * 16000]
    mel, lengths = encoder.log_mel([long_wave])
    ours, _ = encoder(mel[..., :3000], torch.clamp(lengths, max=3000))
    with torch.no_grad():
        reference = encoder.encoder(mel[..., :3000]).last_hidden_state
    assert torch.abs(ours - reference).max() < 1e-3

    trimmed = encoder.encode([waves[0]])[0]
    padded_mel = encoder.feature_extractor(waves[0], sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        padded = encoder.encoder(padded_mel).last_hidden_state[0, : len(trimmed)].numpy()
    assert len(trimmed) == (len(waves[0]) // 160 + 1) // 2  # 50 frames per second of real audio
    cos = (trimmed * padded).sum(-1) / np.linalg.norm(trimmed, axis=-1) / np.linalg.norm(padded, axis=-1)
    assert cos.mean() > 0.8  # close but not equal: why training and serving both use trimmed


def test_save_load_round_trip(model, dirs, waves, tmp_path):
    with torch.no_grad():
        model.adapter.conv.weight.mul_(1.5)  # make sure trained weights, not defaults, travel
    save_checkpoint(model, tmp_path / "ckpt")
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == ["config.json", "model.safetensors"]
    loaded = load_checkpoint(tmp_path / "ckpt", *dirs)
    np.testing.assert_allclose(loaded.embed_speech(waves), model.embed_speech(waves), atol=1e-5)
    np.testing.assert_allclose(loaded.embed_text(["a question"]), model.embed_text(["a question"]), atol=1e-6)
    # only the trained parts are stored: far smaller than the base models
    assert (tmp_path / "ckpt" / "model.safetensors").stat().st_size < 40e6


def test_loading_on_other_base_models_is_refused(model, dirs, settings, tmp_path):
    save_checkpoint(model, tmp_path / "ckpt")
    other_whisper = resolve_model_dir(settings, "whisper")  # base, not tiny.en
    with pytest.raises(ValueError, match="different Whisper"):
        load_checkpoint(tmp_path / "ckpt", other_whisper, dirs[1])


def test_adding_fine_tuned_text_layers_starts_from_the_same_function(model, waves):
    one = with_trainable_text_layers(model, 1)
    with torch.no_grad():
        one.speech_top_layers[0].output.dense.bias.add_(0.05)  # as if stage 2 had moved it
    two = with_trainable_text_layers(one, 2)
    assert len(two.speech_top_layers) == 2 and two.config.trainable_text_layers == 2
    assert all(p.requires_grad for p in two.speech_top_layers.parameters())
    # the layer fine-tuned before is still the top one; the new copy is MiniLM's own
    assert torch.equal(two.speech_top_layers[1].output.dense.bias, one.speech_top_layers[0].output.dense.bias)
    np.testing.assert_allclose(two.eval().embed_speech(waves), one.eval().embed_speech(waves), atol=1e-5)
    np.testing.assert_allclose(with_trainable_text_layers(model, 2).eval().embed_speech(waves), model.embed_speech(waves), atol=1e-5)
    with pytest.raises(ValueError, match="cannot drop"):
        with_trainable_text_layers(two, 1)


def test_a_model_for_cached_features_skips_whisper_but_not_its_width(dirs):
    without = new_model(*dirs, with_speech_encoder=False, length_adapter="ctc")
    assert without.speech_encoder is None
    assert without.config == new_model(*dirs, length_adapter="ctc").config


def test_adapter_layers_start_as_identity_then_keep_batches_independent(model, waves, tmp_path, dirs):
    deeper = with_adapter_layers(model, 2).eval()
    assert deeper.config.adapter_layers == 2 and len(deeper.adapter.layers) == 2
    np.testing.assert_allclose(deeper.embed_speech(waves), model.embed_speech(waves), atol=1e-5)
    with torch.no_grad():  # as if training had moved the zeroed residual branches
        for layer in deeper.adapter.layers:
            layer.linear2.weight.normal_(0, 0.02)
            layer.self_attn.out_proj.weight.normal_(0, 0.02)
    moved = deeper.embed_speech(waves)
    assert float(np.min(np.sum(moved * model.embed_speech(waves), axis=1))) < 0.9999
    alone = deeper.embed_speech([waves[0]])[0]
    assert float(alone @ moved[0]) >= 0.999  # padded frames stay out of the layers' attention
    assert any(k.startswith("adapter.layers.1.") for k in deeper.trained_state())
    save_checkpoint(deeper, tmp_path / "ckpt")
    np.testing.assert_allclose(load_checkpoint(tmp_path / "ckpt", *dirs).embed_speech(waves), moved, atol=1e-5)
    with pytest.raises(ValueError, match="cannot drop"):
        with_adapter_layers(deeper, 1)


def test_the_kept_ctc_class_embeddings_follow_a_changed_weight(dirs, waves):
    """Outside training the CTC classes' word embeddings are gathered once (speed); a weight that
    changes afterwards (a training step) must be gathered again, not served stale."""
    torch.manual_seed(0)
    model = new_model(*dirs, ctc_vocab=list(range(1000, 1500))).eval()
    before = model.embed_speech([waves[0]])[0]
    assert model.embed_speech([waves[0]])[0].tolist() == before.tolist()  # kept rows: same result
    with torch.no_grad():
        model._word_embeddings().weight.mul_(3.0)
    after = model.embed_speech([waves[0]])[0]
    fresh = new_model(*dirs, ctc_vocab=list(range(1000, 1500))).eval()
    fresh.load_state_dict(model.state_dict())
    np.testing.assert_allclose(after, fresh.embed_speech([waves[0]])[0], atol=1e-6)
    assert float(after @ before) < 0.9999  # the change did reach the vector


def test_a_base_model_rewritten_by_another_transformers_release_keeps_its_fingerprint(tmp_path):
    # `models prepare` converts the same package with whatever transformers is installed; its
    # config then records that version (5.24.0 -> 5.25.0 made the shipped checkpoint refuse
    # identical weights). A changed model value still changes the fingerprint.
    import json

    from seal_model.checkpoint import fingerprint, legacy_fingerprint

    folder = tmp_path / "base"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights" * 100)

    def write(version: str, d_model: int = 512) -> tuple[str, str]:
        config = {"d_model": d_model, "transformers_version": version}
        (folder / "config.json").write_text(json.dumps(config, indent=2))
        return fingerprint(folder), legacy_fingerprint(folder)

    old, old_legacy = write("5.24.0")
    new, new_legacy = write("5.25.0")
    assert new == old and new_legacy != old_legacy
    assert write("5.25.0", d_model=384)[0] != old
