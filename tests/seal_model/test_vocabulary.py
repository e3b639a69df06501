"""The speech tower can spell any word piece, and the text tower is the stock encoder."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rag_app.model_store import resolve_model_dir
from rag_app.settings import replace
from seal_model.voices import synthesize
from seal_model.checkpoint import config_from_dict, load_checkpoint, new_model, save_checkpoint
from seal_model.growth import with_speech_projection
from seal_model.losses import ctc_classes, ctc_loss
from seal_model.model import rare_word_pieces

NAME = "ljubljana"  # one word piece of MiniLM's vocabulary, far outside the 8,000 most frequent


@pytest.fixture(scope="module")
def dirs(settings):
    return (
        resolve_model_dir(replace(settings, whisper="tiny.en"), "whisper"),
        resolve_model_dir(settings, "text_encoder"),
    )


def test_rare_pieces_cover_the_vocabulary_without_specials(dirs):
    model = new_model(*dirs, ctc_vocab=list(range(1000, 1500)), ctc_full_vocab=True)
    tokenizer = model.text_encoder.tokenizer
    classes = model.ctc_ids[1:].tolist()
    assert len(classes) == len(set(classes))
    assert not set(classes) & set(tokenizer.all_special_ids)
    name_piece = tokenizer.convert_tokens_to_ids(NAME)
    assert name_piece in rare_word_pieces(tokenizer, list(range(1000, 1500)))
    assert name_piece in classes


def test_a_name_outside_the_frequent_pieces_can_be_learned_and_read(dirs):
    """A few CTC steps on one clip: the full-vocabulary head learns to spell a piece that has
    no row of its own; the old head could only ever say "other" there."""
    torch.manual_seed(0)
    frequent = list(range(1000, 1500))
    model = new_model(*dirs, ctc_vocab=frequent, ctc_full_vocab=True)
    clip = synthesize("flite:awb", "the city of ljubljana")
    mel, lengths = model.speech_encoder.log_mel([clip])
    states, mask = model.speech_encoder(mel, lengths)
    class_of = ctc_classes(model)
    params = [p for p in model.adapter.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    model.train()
    for _ in range(150):
        out = model.ctc_forward(states, mask)
        loss = ctc_loss(model, out.ctc_log_probs, out.ctc_lengths, ["the city of ljubljana"], class_of)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        reading = model.read(model.speech_forward(states, mask))[0]
    assert NAME in reading.split(), reading

    legacy = new_model(*dirs, ctc_vocab=frequent, ctc_full_vocab=False)
    assert model.text_encoder.tokenizer.convert_tokens_to_ids(NAME) not in legacy.ctc_ids.tolist()


def test_characters_the_tokenizer_cannot_spell_keep_the_loss_finite(dirs):
    """[UNK] has no CTC class in a full-vocabulary head; it is left out of the target rather
    than mapped past the last class (which made the loss NaN in a real run)."""
    model = new_model(*dirs, ctc_vocab=list(range(1000, 1500)), ctc_full_vocab=True)
    text = "the symbol \u2603\u2603 means snow"
    assert model.text_encoder.tokenizer.unk_token_id in model.text_encoder.tokenizer(text)["input_ids"]
    mel, lengths = model.speech_encoder.log_mel([synthesize("flite:awb", "the symbol means snow")])
    out = model.ctc_forward(*model.speech_encoder(mel, lengths))
    loss = ctc_loss(model, out.ctc_log_probs, out.ctc_lengths, [text], ctc_classes(model))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.adapter.parameters() if p.grad is not None)


def test_text_tower_is_the_stock_encoder(dirs):
    """Passages are embedded exactly as sentence-transformers embeds them, whatever the speech
    side learned (its projection is trained; the text side has none)."""
    from sentence_transformers import SentenceTransformer

    model = new_model(*dirs, ctc_vocab=list(range(1000, 1500)), ctc_full_vocab=True)
    with torch.no_grad():
        model.projection.weight.mul_(1.7).add_(0.01)  # as if trained
    texts = ["Who designed the Sagrada Familia?", "Ljubljana is the capital of Slovenia."]
    expected = SentenceTransformer(str(dirs[1]), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.abs(model.embed_text(texts) - expected).max() < 1e-4
    assert model.text_fingerprint == model.config.text_encoder_fingerprint


def test_legacy_shared_checkpoints_still_load(dirs, tmp_path):
    """Checkpoints from before the stock text tower kept one trained layer on both towers."""
    model = new_model(*dirs, ctc_vocab=list(range(1000, 1500)), projection="shared")
    with torch.no_grad():
        model.projection.weight.mul_(2.0)
    folder = save_checkpoint(model, tmp_path / "legacy")
    config = json.loads((folder / "config.json").read_text())
    config.pop("projection")
    config["shared_layer"] = True
    (folder / "config.json").write_text(json.dumps(config))
    assert config_from_dict(config).projection == "shared"
    loaded = load_checkpoint(folder, *dirs)
    assert loaded.config.projection == "shared"
    assert torch.equal(loaded.projection.weight, model.projection.weight)
    moved = with_speech_projection(loaded)
    assert moved.config.projection == "speech" and torch.equal(moved.projection.weight, torch.eye(384))


def test_the_shipped_checkpoints_text_tower_is_the_stock_encoder(settings):
    """Issue 17 item 2 for what users get: passages embedded by the shipped checkpoint are exactly
    sentence-transformers' all-MiniLM-L6-v2 vectors, so typed, ASR and decoder retrieval keep stock
    quality and a later SEAL checkpoint needs no reindex."""
    from sentence_transformers import SentenceTransformer

    from rag_app.model_store import load_seal_model

    model = load_seal_model(settings)
    assert model.config.projection == "speech"
    texts = ["Which Michael Bay movie is about the Benghazi attack?", "Ljubljana is the capital of Slovenia."]
    expected = SentenceTransformer(str(resolve_model_dir(settings, "text_encoder")), device="cpu").encode(
        texts, normalize_embeddings=True)
    assert np.abs(model.embed_text(texts) - expected).max() < 1e-4
