"""A tiny end-to-end training run on real synthesized speech: the loss must fall."""
from __future__ import annotations

import csv
import json

import numpy as np
import torch
from torch import nn

from rag_app.model_store import resolve_model_dir
from rag_app.settings import replace
import pytest

from seal_model.card import data_stats, write_card
from seal_model.data.speech_cache import build_speech_cache, cached_shards, load_shards, parse_shard_spec, run_shard_paths
from seal_model.speech_encoder import WhisperSpeechEncoder
from seal_model.checkpoint import load_checkpoint, new_model
from seal_model.data.training_data import collate, pick_hard_negatives
from seal_model.losses import cosent
from seal_model.train import TrainConfig, ctc_phase_steps, train
from tests.conftest import write_tiny_corpus


def test_tiny_training_run_lowers_the_loss(settings, tmp_path):
    whisper_dir = resolve_model_dir(replace(settings, whisper="tiny.en"), "whisper")
    text_dir = resolve_model_dir(settings, "text_encoder")
    corpus = write_tiny_corpus(tmp_path / "corpus")
    cache = tmp_path / "speech" / "tiny"
    written = build_speech_cache(corpus, cache, WhisperSpeechEncoder(whisper_dir), log=lambda _m: None)
    clips = load_shards(cache)
    assert written == 1 and len(clips) == 4 * 4 + 8  # 4 rounds of 4 questions; each sentence once
    assert len({c.item.voice for c in clips}) > 4
    assert all(c.features.dtype == np.float16 and c.features.shape[1] == 384 for c in clips)
    # Features are mapped from the shard file, not read into memory, and equal what numpy reads.
    (shard,) = cached_shards(cache)
    with np.load(shard) as saved:
        read = np.split(saved["features"], np.cumsum(saved["lengths"])[:-1])
    assert all(isinstance(c.features, np.memmap) for c in clips)
    assert all(np.array_equal(c.features, r) for c, r in zip(clips, read))
    # A build killed mid-write leaves its temporary file: it is not a shard.
    (cache / "shard_00001.4242.tmp.npz").write_bytes(b"half written")
    assert [p.name for p in run_shard_paths(cache, {})] == ["shard_00000.npz"]
    # resuming finds nothing left to do
    assert build_speech_cache(corpus, cache, None, log=lambda _m: None) == 0

    cfg = TrainConfig(
        run_dir=str(tmp_path / "run"), cache_dir=str(cache), corpus_dir=str(corpus),
        whisper_dir=str(whisper_dir), text_dir=str(text_dir), batch_size=12, stage0_steps=15, stage1_steps=30,
        stage2_steps=10, lr=3e-3, warmup_steps=5, eval_every=25, ctc_vocab_size=200, threads=2,
        dev_kb_size=4, hard_negatives=1,
    )
    torch.manual_seed(0)
    checkpoint = train(cfg, log=lambda _m: None)

    rows = list(csv.DictReader(open(tmp_path / "run" / "loss.csv")))
    align = [float(r["align"]) for r in rows if r["stage"] == "1"]
    assert np.mean(align[-8:]) < 0.7 * np.mean(align[:8])
    assert (tmp_path / "run" / "loss.png").stat().st_size > 10_000
    model = load_checkpoint(checkpoint, whisper_dir, text_dir)
    assert model.config.length_adapter == "ctc" and len(model.config.ctc_vocab) <= 200

    # Resuming with a longer stage 2 continues from the saved step and keeps the CTC classes.
    vocab = json.loads((checkpoint / "config.json").read_text())["ctc_vocab"]
    longer = TrainConfig(**{**cfg.__dict__, "stage2_steps": 14})
    train(longer, log=lambda _m: None)
    steps = [int(r["step"]) for r in csv.DictReader(open(tmp_path / "run" / "loss.csv"))]
    assert steps == list(range(1, 15 + 30 + 14 + 1))
    assert json.loads((checkpoint / "config.json").read_text())["ctc_vocab"] == vocab

    # Warm start on a chosen shard set with CoSENT: the architecture comes from the checkpoint,
    # there is no CTC warm-up, the new loss is logged, and the weights move from where they were.
    warm = TrainConfig(**{**cfg.__dict__, "run_dir": str(tmp_path / "warm"), "init_from": str(checkpoint),
                          "shards": "0", "stage0_steps": None, "stage1_steps": 0, "stage2_steps": 4, "cosent_weight": 1.0,
                          "conv_stride": 8, "eval_every": 4})
    warm_checkpoint = train(warm, log=lambda _m: None)
    rows = list(csv.DictReader(open(tmp_path / "warm" / "loss.csv")))
    assert [r["stage"] for r in rows] == ["2"] * 4 and all(float(r["cosent"]) > 0 for r in rows)
    steps_run = {name: json.loads((tmp_path / name / "train_config.json").read_text())["steps_run"] for name in ("run", "warm")}
    assert steps_run == {"run": {"ctc_warmup": 15, "stage1": 30, "stage2": 14}, "warm": {"ctc_warmup": 0, "stage1": 0, "stage2": 4}}
    assert set(json.loads((tmp_path / "warm" / "start_dev.json").read_text())) >= {"dev_top1", "dev_median_rank"}
    before, after = load_checkpoint(checkpoint, whisper_dir, text_dir), load_checkpoint(warm_checkpoint, whisper_dir, text_dir)
    assert after.config == before.config  # conv_stride 8 above is ignored: the checkpoint decides
    moved = [k for k, v in after.trained_state().items() if not torch.equal(v, before.trained_state()[k])]
    assert moved
    card = write_card(tmp_path / "warm", tmp_path / "shipped", data_stats(run_shard_paths(cache, warm.__dict__)), None) / "DATA_CARD.md"
    text = card.read_text()
    assert "CoSENT weight 1.0" in text and "from 1 feature shards" in text and "CTC warm-up 0, stage 1 0, stage 2 4" in text
    assert "Warm-started from `run/checkpoint`" in text and str(tmp_path) not in text  # no machine path
    assert "Dev retrieval of the starting checkpoint" in text
    # The shipped copy stores its weights as float16 (half the bytes in git) and, loaded into the
    # float32 parameters, embeds speech and text as the run's own checkpoint does.
    from safetensors.torch import load_file

    assert {v.dtype for v in load_file(str(tmp_path / "shipped" / "model.safetensors")).values()} == {torch.float16}
    shipped = load_checkpoint(tmp_path / "shipped", whisper_dir, text_dir, with_speech_encoder=False)
    with torch.inference_mode():
        pairs = [(m.speech_forward(*collate(clips[:6])).embedding, m.embed_text(["who owns the hotel", "a passage"]))
                 for m in (after, shipped)]
    for run_vectors, shipped_vectors in zip(*pairs):
        cosines = nn.functional.cosine_similarity(torch.as_tensor(run_vectors), torch.as_tensor(shipped_vectors), dim=-1)
        assert cosines.min() >= 0.999, cosines

    # A warm start may add fine-tuned top text layers (and only that): they train, the rest carries over.
    # Here with spoken passage sentences as extra stage-2 queries: the 8 sentences join the 16 questions.
    deeper = TrainConfig(**{**warm.__dict__, "run_dir": str(tmp_path / "deeper"), "trainable_text_layers": 1,
                            "stage2_steps": 2, "eval_every": 2, "cosent_weight": 0.0, "sentence_queries": True})
    messages: list[str] = []
    deeper_model = load_checkpoint(train(deeper, log=messages.append), whisper_dir, text_dir)
    assert any("16 spoken questions, 24 stage-2 queries" in m for m in messages), messages
    assert deeper_model.config.trainable_text_layers == 1
    minilm_top = deeper_model.text_encoder.transformer.encoder.layer[-1].state_dict()
    assert any(not torch.equal(v, minilm_top[k]) for k, v in deeper_model.speech_top_layers[0].state_dict().items())

    # A warm start may ask for CTC-only steps (training its recogniser longer is cheap: no text
    # layers run): they come first, move only the CTC path, and the start is measured before them.
    ctc_first = TrainConfig(**{**warm.__dict__, "run_dir": str(tmp_path / "ctc"), "stage0_steps": 3,
                               "stage2_steps": 0, "cosent_weight": 0.0, "eval_every": 3})
    ctc_model = load_checkpoint(train(ctc_first, log=lambda _m: None), whisper_dir, text_dir)
    assert [r["stage"] for r in csv.DictReader(open(tmp_path / "ctc" / "loss.csv"))] == ["0"] * 3
    assert json.loads((tmp_path / "ctc" / "train_config.json").read_text())["steps_run"]["ctc_warmup"] == 3
    assert (tmp_path / "ctc" / "start_dev.json").exists()
    start = before.trained_state()  # the checkpoint it warm-started from
    moved = {".".join(k.split(".")[:2]) for k, v in ctc_model.trained_state().items() if not torch.equal(v, start[k])}
    # The full-vocabulary head's rare-piece scorer (rare_query, rare_bias) is part of the CTC path.
    ctc_path = {"adapter.norm", "adapter.conv", "adapter.ctc_head", "adapter.rare_query", "adapter.rare_bias"}
    assert {"adapter.conv", "adapter.ctc_head"} <= moved <= ctc_path, moved


def test_ctc_phase_defaults_to_none_on_a_warm_start_and_600_from_scratch():
    def cfg(**kw):
        return TrainConfig(run_dir="r", cache_dir="c", corpus_dir="p", whisper_dir="w", text_dir="t", **kw)

    assert ctc_phase_steps(cfg(), use_ctc=True) == 600
    assert ctc_phase_steps(cfg(init_from="ckpt"), use_ctc=True) == 0
    assert ctc_phase_steps(cfg(init_from="ckpt", stage0_steps=50), use_ctc=True) == 50
    assert ctc_phase_steps(cfg(stage0_steps=50), use_ctc=False) == 0


def test_shard_spec_names_ranges_and_rejects_nonsense():
    assert parse_shard_spec("0-2,5, 9-9") == [0, 1, 2, 5, 9]
    for bad in ("", "3-1", "a-b", "-4"):
        with pytest.raises(ValueError):
            parse_shard_spec(bad)


def test_hard_negatives_skip_gold_and_passages_holding_the_query():
    passages = {"gold": {"text": "Paris is the capital of France."},
                "twin": {"text": "Paris is the capital of France. It had 2.1 million people."},
                "near": {"text": "Lyon is a city in France."}, "far": {"text": "Rice is a grain."}}
    ranked = ["gold", "twin", "near", "far"]
    assert pick_hard_negatives("Paris is the capital of France.", "gold", ranked, passages, 2) == ["near", "far"]
    assert pick_hard_negatives("what is the capital of france", "gold", ranked, passages, 1) == ["twin"]


def test_cosent_is_low_when_scores_follow_the_teacher_ordering():
    teacher = torch.tensor([[0.9, 0.5, 0.1], [0.2, 0.8, 0.4]])
    agreeing = torch.tensor([[0.7, 0.3, -0.2], [0.0, 0.6, 0.3]])
    reversed_ = -agreeing
    assert cosent(agreeing, teacher, 20.0) < 0.1 < cosent(reversed_, teacher, 20.0)
    # ties in the teacher add no pairs: an all-equal teacher gives log(1) = 0
    assert cosent(agreeing, torch.ones(2, 3), 20.0).item() == 0.0


def test_compressed_shard_is_read_not_mapped(tmp_path):
    """A shard someone recompressed still loads (read into memory: compressed bytes cannot be mapped)."""
    from dataclasses import asdict

    from seal_model.data.speech_cache import SpeechItem, load_shard, mapped_member

    items = [SpeechItem(f"q{n}", f"question {n}", "flite:kal16", "question", "train", ["p1"]) for n in range(2)]
    features = np.arange(5 * 3, dtype=np.float16).reshape(5, 3)
    path = tmp_path / "shard_00000.npz"
    np.savez_compressed(path, features=features, lengths=np.array([2, 3], dtype=np.int32),
                        items=np.array([json.dumps(asdict(i)) for i in items]))
    assert mapped_member(path, "features") is None
    clips = load_shard(path)
    assert [c.item.id for c in clips] == ["q0", "q1"]
    assert np.array_equal(clips[1].features, features[2:]) and not isinstance(clips[1].features, np.memmap)


def test_text_targets_are_computed_without_dropout(settings, tmp_path):
    """Training puts the whole model in train mode; the frozen text encoder's target vectors
    must still be its deterministic output, not a dropout sample."""
    from seal_model.data.training_data import pooled_text_vectors

    whisper_dir = resolve_model_dir(replace(settings, whisper="tiny.en"), "whisper")
    text_dir = resolve_model_dir(settings, "text_encoder")
    model = new_model(whisper_dir, text_dir, with_speech_encoder=False).train()
    texts = ["who wrote the novel middlemarch", "the eiffel tower was built in paris"]
    vectors = pooled_text_vectors(model, texts, tmp_path / "vectors.npz", log=lambda _m: None)
    got = nn.functional.normalize(torch.from_numpy(np.stack([vectors[t] for t in texts])), dim=-1).numpy()
    from seal_model.text_encoder import TextEncoder

    np.testing.assert_allclose(got, TextEncoder(text_dir).encode(texts), atol=1e-5)
    assert model.text_encoder.training  # left as it was found


def test_augmented_work_list(tmp_path):
    """The augmented recipe: the same list every time, questions and sentences interleaved,
    festival voices in the pool, a named chain on training clips and none on dev clips."""
    from seal_model.data.speech_cache import speak_items, work_items

    corpus = write_tiny_corpus(tmp_path / "corpus")
    first = list(work_items(corpus, recipe="augmented"))
    assert [(i.id, i.voice, i.augment) for i in first] == [(i.id, i.voice, i.augment) for i in work_items(corpus, recipe="augmented")]
    assert any(i.augment not in ("", "clean") for i in first if i.split == "train")
    assert all(i.augment == "" for i in first if i.split != "train")
    kinds = [i.kind for i in first[:12]]
    assert "question" in kinds and "sentence" in kinds
    voices = {v for i in work_items(corpus, rounds=40, recipe="augmented") for v in [i.voice.split(":")[0]]}
    assert voices == {"flite", "espeak", "festival"}
    augmented = [i for i in first if i.augment not in ("", "clean")][:3]
    clips = speak_items(augmented)
    np.testing.assert_array_equal(clips[0], speak_items(augmented)[0])
    with pytest.raises(ValueError):
        list(work_items(corpus, recipe="louder"))
