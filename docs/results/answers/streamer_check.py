"""The embedded LLM's first piece of text: transformers' stock streamer (text up to the last space)
vs `rag_app.llm.token_streamer` (each whole token). Same replies? How much sooner? Each question
answered with both, fresh prompt cache each time, the order alternated.

    python docs/results/answers/streamer_check.py
"""
from __future__ import annotations

import statistics
import time

import torch
from transformers import TextIteratorStreamer

from knowledge_base.store import Passage
from rag_app import llm as llm_module
from rag_app.llm import LocalLLM
from rag_app.model_store import resolve_model_dir
from rag_app.prompt import build_messages
from rag_app.settings import Settings

QUESTIONS = ["Who wrote Hamlet?", "When did the Eiffel Tower open?", "What is the capital of Australia?",
             "Who painted the Mona Lisa?", "How tall is Mount Everest?", "What does DNA stand for?"]
PASSAGES = [Passage("a", "The Eiffel Tower opened in 1889 in Paris. Hamlet is a tragedy by William Shakespeare. "
                         "Canberra is the capital city of Australia.", 0.5, {}),
            Passage("b", "The Mona Lisa was painted by Leonardo da Vinci. Mount Everest is 8,849 metres tall. "
                         "DNA is deoxyribonucleic acid.", 0.4, {})]


def stock(tokenizer):
    return TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


def main() -> None:
    torch.set_num_threads(2)
    llm = LocalLLM(resolve_model_dir(Settings(), "llm"))
    streamers = {"stock": stock, "per token": llm_module.token_streamer}
    first: dict[str, list[float]] = {name: [] for name in streamers}
    same = 0
    for repeat in range(2):
        for question in QUESTIONS:
            replies = {}
            for name in (list(streamers) if repeat == 0 else list(streamers)[::-1]):
                llm_module.token_streamer = streamers[name]  # what LocalLLM.stream builds its streamer with
                llm._prompt_cache.__init__()  # both read the whole prompt
                started, pieces = time.perf_counter(), []
                for piece in llm.stream(build_messages(question, PASSAGES, None), 40):
                    if not pieces:
                        first[name].append((time.perf_counter() - started) * 1000)
                    pieces.append(piece)
                replies[name] = "".join(pieces)
            same += replies["stock"] == replies["per token"]
    print(f"same reply text: {same} of {2 * len(QUESTIONS)}")
    for name, times in first.items():
        print(f"{name:<10} first piece p50 {statistics.median(times):.0f} ms")


if __name__ == "__main__":
    main()
