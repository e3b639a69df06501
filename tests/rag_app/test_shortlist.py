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
