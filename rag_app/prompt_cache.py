"""The embedded LLM's attention cache (keys and values) kept from one answer to the next.

Every prompt starts with the same chat header and instructions (about 60 of SmolLM2's ~220
prompt tokens with the default 2 passages of 400 characters); a follow-up on the same passages shares far more.
Prefill is what the user waits for before the first token on a CPU (~2 ms a token on 2 threads), so
the part of the new prompt that equals the previous prompt-and-answer is not computed again:
the cache is cut back to the longest common prefix and `generate()` computes the rest.
Greedy answers are the same as without the cache (tested), up to float rounding.
"""
from __future__ import annotations


class PromptCache:
    """The cache of the last sequence the model read, and the token ids it holds. Not thread-safe:
    the embedded LLM uses it under its one-generation-at-a-time lock."""

    def __init__(self, min_shared: int = 8):
        self.min_shared = min_shared  # below this, reuse saves less than the bookkeeping costs
        self._cache = None
        self._ids: list[int] = []

    def take(self, prompt_ids: list[int]):
        """A cache for a prompt: the kept one cut back to what it shares with `prompt_ids` (at
        least the prompt's last token is left to compute, so the model yields the next one's
        scores), or a fresh one. The caller gives it to `generate(cache=...)`, then to `keep`."""
        from transformers import DynamicCache

        shared = 0
        limit = min(len(self._ids), len(prompt_ids) - 1)
        while shared < limit and self._ids[shared] == prompt_ids[shared]:
            shared += 1
        cache, self._cache, self._ids = self._cache, None, []  # taken: a failed answer leaves nothing stale
        if cache is None or shared < self.min_shared:
            return DynamicCache()
        cache.crop(shared - cache.get_seq_length())
        return cache

    def keep(self, cache, sequence_ids: list[int]) -> None:
        """After an answer: the cache holds the keys and values of the sequence's first tokens (the
        last token generated was never read back)."""
        self._cache, self._ids = cache, sequence_ids[: cache.get_seq_length()]

    @property
    def shared_tokens(self) -> int:
        """How many tokens the kept cache holds (for tests and the status panel)."""
        return len(self._ids)
