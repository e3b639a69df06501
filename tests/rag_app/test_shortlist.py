"""The float16 shortlist for an output layer's argmax: always the float32 answer, never a banned word."""
from __future__ import annotations

import torch

from rag_app.shortlist import HalfShortlist


def exact_argmax(weight: torch.Tensor, x: torch.Tensor, banned: list[int]) -> int:
    scores = weight @ x
    scores[banned] = -float("inf")
    return int(scores.argmax())


def test_the_shortlist_gives_the_float32_argmax_and_skips_banned_words():
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(5000, 64, generator=generator) * 0.1
    head = HalfShortlist(weight)
    for trial in range(200):
        x = torch.randn(64, generator=generator) * (1 + trial % 7)
        banned = torch.randint(0, 5000, (trial % 20,), generator=generator).tolist()
        banned.append(exact_argmax(weight, x, []))  # the best word banned: the next one must win
        token = head.argmax(x, banned)
        assert token == exact_argmax(weight, x, banned)
        assert token not in banned
    assert head.calls == 200
    assert head.fallbacks < 20  # the bound is tight enough to be useful on ordinary scores


def test_a_near_tie_the_float16_copy_cannot_settle_falls_back_to_float32():
    weight = torch.zeros(100, 8)
    weight[:, 0] = torch.linspace(-1, 0, 100)
    weight[7, 0] = 1.0
    weight[42, 0] = 1.0 + 1e-6  # float16 rounds both rows to 1.0: only float32 tells them apart
    head = HalfShortlist(weight, shortlist=1)
    x = torch.zeros(8)
    x[0] = 3.0
    assert head.argmax(x, []) == 42
    assert head.fallbacks == 1


def test_only_float32_weights_on_a_cpu_use_it():
    assert HalfShortlist.supported(torch.zeros(4, 4))
    assert not HalfShortlist.supported(torch.zeros(4, 4, dtype=torch.bfloat16))
    assert not HalfShortlist.supported(torch.full((4, 4), 1e5))  # beyond float16's range


def _tiny_lm(vocab: int = 3000):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    return LlamaForCausalLM(config).eval()


def _greedy(model, extra=None) -> list[int]:
    from transformers import LogitsProcessorList

    from rag_app.llm import NoRepeatInAnswer

    prompt = torch.tensor([[5, 17, 99, 2048, 7, 7, 300]])
    processors = [NoRepeatInAnswer(2, prompt.shape[1])] + ([extra] if extra else [])  # n=2: many bans
    with torch.inference_mode():
        out = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=24,
                             do_sample=False, logits_processor=LogitsProcessorList(processors))
    return out[0].tolist()


def test_the_llms_shortlist_head_writes_the_same_tokens_as_its_float32_layer():
    from rag_app.shortlist import ShortlistHead, install_shortlist_head

    reference = _greedy(_tiny_lm())
    model = _tiny_lm()
    check = install_shortlist_head(model)
    assert isinstance(model.lm_head, ShortlistHead)
    assert _greedy(model, check) == reference
    assert model.lm_head.shortlist.calls == 24  # every token took the shortlist path


def test_when_the_bound_proves_nothing_every_token_comes_from_the_float32_row(monkeypatch):
    from rag_app.shortlist import install_shortlist_head

    reference = _greedy(_tiny_lm())
    model = _tiny_lm()
    check = install_shortlist_head(model)
    monkeypatch.setattr(HalfShortlist, "error_bound", lambda self, x, approx: 1e9)
    assert _greedy(model, check) == reference
    assert model.lm_head.shortlist.fallbacks == 24


def test_a_model_whose_config_rescales_scores_keeps_its_own_layer():
    from rag_app.shortlist import install_shortlist_head

    model = _tiny_lm()
    model.generation_config.repetition_penalty = 1.3
    assert install_shortlist_head(model) is None
    assert isinstance(model.lm_head, torch.nn.Linear)
