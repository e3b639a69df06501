"""An answer cut by a dying LLM replica, finished by another: `ResumingLLM`.

Behind a router, a vLLM replica that dies takes the answers it was streaming with it; the router
can only move the *next* requests. Our answers are greedy (temperature 0), so asking the same
messages again yields the same tokens: `ResumingLLM` asks again (the router sends it to a live
replica), skips what the user has already been shown and streams the rest. If the new answer does
not start with what was shown (another model behind the router, different numerics) it does not
pretend: the original error goes on and the turn ends with its notice, as without this wrapper.

Enabled by `llm_retries` (SEAL_RAG_LLM_RETRIES; `seal-rag deploy local` and the compose recipe
set 1); the default 0 leaves the plain backend.
"""
from __future__ import annotations

import logging
import time
from typing import Iterator

from rag_app.llm import AnswerTooSlow, LLMError, Message


log = logging.getLogger(__name__)


class ResumingLLM:
    def __init__(self, inner, retries: int = 1, backoff_s: float = 0.5):
        self.inner, self.retries, self.backoff_s = inner, retries, backoff_s
        self.resumed = 0  # answers finished by a retry (for tests and logs)

    def __getattr__(self, name):  # name, client, base_url, health(): the wrapped backend's
        return getattr(self.inner, name)

    def stream(self, messages: list[Message], max_new_tokens: int = 256) -> Iterator[str]:
        shown = ""  # what the user has been given so far
        first_error: LLMError | None = None
        for attempt in range(self.retries + 1):
            produced = ""
            try:
                for piece in self.inner.stream(messages, max_new_tokens):
                    produced += piece
                    common = min(len(produced), len(shown))
                    if produced[:common] != shown[:common]:
                        raise first_error  # a retry that diverged: end as the first try ended
                    if len(produced) > len(shown):
                        yield produced[len(shown):]
                        shown = produced
                if attempt:
                    self.resumed += 1
                    log.warning("answer finished by retry %d after: %s", attempt, first_error)
                return
            except LLMError as exc:
                if exc is first_error or attempt == self.retries or isinstance(exc, AnswerTooSlow):
                    log.warning("LLM answer given up after %d tries: %s", attempt + 1, first_error or exc)
                    raise (first_error or exc)
                first_error = first_error or exc
                time.sleep(self.backoff_s * (attempt + 1))
