"""The greedy token of a large output layer, exactly, for half of its memory traffic.

An output layer is read whole for every token a model writes: Whisper's (51,865 words x 512) is
106 MB in float32, SmolLM2's (49,152 x 576) 113 MB, and on a CPU that read, not arithmetic, is what
it costs. A float16 copy (half the bytes; the product still sums in float32, only inputs and result
are rounded) scores every word approximately; the best few are scored again in float32 from the
original rows. Greedy decoding only needs the argmax, and a bound on the float16 error says when the
shortlist must hold it. With u = 2^-11 (float16's unit roundoff), inputs rounded to relative error u
each, per row i:

    |x.w_i - half(x).half(w_i)| <= (2u + u^2) sum_j |x_j w_ij| + u |result|  (+ a float32 sum term)
                                <= (2u + u^2 + n 2^-24) |x| max_i |w_i| + u max |result|   (Cauchy-Schwarz)

If the best float32 score in the shortlist beats every excluded word's float16 score plus that
bound, no excluded word can win; otherwise the whole float32 product is computed. So the token is
the float32 argmax (the words do not change) and `fallbacks` counts how often the shortcut could
not prove it. (int8 was measured too: a quarter of the bytes, but its error bound is so loose that
92% of Whisper's steps fell back.)

Two users: Whisper's greedy loop asks `argmax` directly; the embedded LLM's `generate()` gets
`ShortlistHead` as its output layer plus `ExactArgmax` as its last logits processor.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

SHORTLIST = 16
UNIT_ROUNDOFF = 2.0 ** -11
TINY = 2.0 ** -24  # float16 below its normal range and float32 summation: absolute terms, negligible
HALF_MAX = 6e4  # float16 holds up to 65,504


@dataclass
class Scores:
    approx: torch.Tensor  # every word's float16 score, banned words -inf
    candidates: torch.Tensor  # the shortlist, best first by the float16 score
    exact: torch.Tensor  # their float32 scores (banned: -inf)
    excluded_best: float  # the best float16 score outside the shortlist
    bound: float  # how far any float16 score can be from the float32 one


class HalfShortlist:
    def __init__(self, weight: torch.Tensor, shortlist: int = SHORTLIST):
        self.weight = weight.detach()
        self.half = self.weight.half().contiguous()
        self.shortlist = shortlist
        self.row_norm_max = float(self.weight.norm(dim=1).max())
        self.entry_max = float(self.weight.abs().max())
        self.calls = self.fallbacks = 0

    @staticmethod
    def supported(weight: torch.Tensor) -> bool:
        # A CPU running float32 (where bfloat16 is native the whole model already runs in it);
        # float16 must be able to hold the weights.
        return (weight.device.type == "cpu" and weight.dtype == torch.float32
                and float(weight.detach().abs().max()) < HALF_MAX)

    def error_bound(self, x: torch.Tensor, approx: torch.Tensor) -> float:
        u, n = UNIT_ROUNDOFF, x.numel()
        finite = approx[torch.isfinite(approx)]
        largest = float(finite.abs().max()) if finite.numel() else 0.0
        return ((2 * u + u * u + n * TINY) * float(x.norm()) * self.row_norm_max + u * largest
                + n * TINY * (1 + self.entry_max) * (1 + float(x.abs().max())))

    def scores(self, x: torch.Tensor, banned: list[int] | None = None) -> Scores | None:
        """The shortlist's scores for one hidden vector; None when float16 cannot hold x."""
        if float(x.abs().max()) >= HALF_MAX:
            return None
        approx = torch.mv(self.half, x.half()).float()
        if banned:
            approx[banned] = -float("inf")
        top = approx.topk(min(self.shortlist + 1, approx.numel()))
        candidates = top.indices[:self.shortlist]
        exact = self.weight[candidates] @ x
        exact[top.values[:self.shortlist] == -float("inf")] = -float("inf")  # banned
        excluded_best = float(top.values[-1]) if top.values.numel() > self.shortlist else -float("inf")
        return Scores(approx, candidates, exact, excluded_best, self.error_bound(x, approx))

    def exact_scores(self, x: torch.Tensor) -> torch.Tensor:
        self.fallbacks += 1
        return self.weight @ x

    def argmax(self, x: torch.Tensor, banned: list[int]) -> int:
        """The index of the largest x . row over rows not in `banned`, as float32 computes it."""
        self.calls += 1
        x = x.reshape(-1).float()
        found = self.scores(x, banned)
        if found is not None:
            best = int(found.exact.argmax())
            if float(found.exact[best]) > found.excluded_best + found.bound:
                return int(found.candidates[best])
        scores = self.exact_scores(x)
        scores[banned] = -float("inf")
        return int(scores.argmax())


class ShortlistHead(torch.nn.Module):
    """An LM's output layer for `generate()`: for one position it returns the shortlist's float32
    scores and, for every other word, an upper bound on its score (float16 score + bound). If the
    greedy pick after the logits processors is a shortlisted word, it beats every other word's
    bound, so it is the float32 argmax; `ExactArgmax` (the last processor) checks that and computes
    the whole float32 row when not. This holds for processors that only ban words (-inf), which is
    all the embedded LLM uses (`plain_generation_config` says when a model's config adds others)."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self.linear = linear  # kept whole for prefill positions and the fallback
        self.shortlist = HalfShortlist(linear.weight)
        self.last: tuple[torch.Tensor, torch.Tensor] | None = None  # (hidden, candidates) of the last call

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        self.last = None
        if hidden.shape[:-1].numel() != 1 or hidden.dtype != torch.float32:
            return self.linear(hidden)
        x = hidden.reshape(-1)
        found = self.shortlist.scores(x)
        if found is None:
            return self.linear(hidden)
        self.shortlist.calls += 1
        logits = found.approx + found.bound
        logits[found.candidates] = found.exact
        self.last = (x, found.candidates)
        return logits.reshape(*hidden.shape[:-1], -1)


class ExactArgmax:
    """The last logits processor: a greedy pick outside the shortlist gets the float32 row (with the
    words earlier processors banned still banned)."""

    def __init__(self, head: ShortlistHead):
        self.head = head

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.head.last is None or scores.shape[0] != 1:
            return scores
        x, candidates = self.head.last
        if bool((candidates == scores[0].argmax()).any()):
            return scores
        exact = self.head.shortlist.exact_scores(x).to(scores.dtype)
        exact[scores[0] == -float("inf")] = -float("inf")
        return exact[None]


# Generation options that change scores other than by banning words: with any of them set, the
# upper bounds `ShortlistHead` returns would be rescaled, so the shortlist is not used.
_RESCALING = ("repetition_penalty", "encoder_repetition_penalty", "sequence_bias", "guidance_scale",
              "exponential_decay_length_penalty", "renormalize_logits", "watermarking_config")


def plain_generation_config(config) -> bool:
    from transformers import GenerationConfig

    default = GenerationConfig()
    return all(getattr(config, name, None) == getattr(default, name, None) for name in _RESCALING)


def install_shortlist_head(model) -> ExactArgmax | None:
    """Give a float32 CPU causal LM the shortlist output layer; returns the processor `generate()`
    needs last, or None where it does not apply (another device or format, a rescaling config)."""
    head = getattr(model, "lm_head", None)
    if isinstance(head, ShortlistHead):
        return ExactArgmax(head)
    if (not isinstance(head, torch.nn.Linear) or head.bias is not None
            or not HalfShortlist.supported(head.weight)
            or not plain_generation_config(getattr(model, "generation_config", None))):
        return None
    model.lm_head = ShortlistHead(head)
    return ExactArgmax(model.lm_head)
