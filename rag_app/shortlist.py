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

Whisper's greedy loop (rag_app.asr) uses it. The embedded LLM's output layer was given the same
(through generate(), commit fe712f6) and taken out: its 30-layer body dominates each token (~73 of
~85 ms), so it saved 4% (docs/results/latency-shortlist).
"""
from __future__ import annotations

import torch

SHORTLIST = 16
UNIT_ROUNDOFF = 2.0 ** -11
TINY = 2.0 ** -24  # float16 below its normal range and float32 summation: absolute terms, negligible
HALF_MAX = 6e4  # float16 holds up to 65,504


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

    def argmax(self, x: torch.Tensor, banned: list[int]) -> int:
        """The index of the largest x . row over rows not in `banned`, as float32 computes it."""
        self.calls += 1
        x = x.reshape(-1).float()
        if float(x.abs().max()) < HALF_MAX:  # otherwise float16 cannot hold x: straight to float32
            approx = torch.mv(self.half, x.half()).float()
            approx[banned] = -float("inf")
            top = approx.topk(min(self.shortlist + 1, approx.numel()))
            candidates = top.indices[:self.shortlist]
            exact = self.weight[candidates] @ x
            exact[top.values[:self.shortlist] == -float("inf")] = -float("inf")  # banned
            best = int(exact.argmax())
            excluded_best = float(top.values[-1]) if top.values.numel() > self.shortlist else -float("inf")
            if float(exact[best]) > excluded_best + self.error_bound(x, approx):
                return int(candidates[best])
        self.fallbacks += 1
        scores = self.weight @ x
        scores[banned] = -float("inf")
        return int(scores.argmax())
