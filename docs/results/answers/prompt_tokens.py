"""Prompt tokens the embedded LLM reads per turn, for several (passages, characters) budgets
(a trailing q: the sentences sharing the question's words, `passage_focus=question`), on an
eval set's typed questions (a question counted once), searched exactly as `seal-rag eval --answers`.

    python docs/results/answers/prompt_tokens.py ~/.cache/seal-rag/data/eval/heldout-nq-tune 3x400 3x300 2x400 3x200 2x400q
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

from transformers import AutoTokenizer

from evaluation.answers import IndexKnowledgeBase
from evaluation.evaluate import passage_index
from rag_app.focus import focus
from rag_app.model_store import load_seal_model, resolve_model_dir
from rag_app.prompt import build_messages
from rag_app.settings import Settings
from seal_model.data.eval_set import load_eval_set


def main(set_dir: str, budgets: list[str]) -> None:
    settings = Settings()
    eval_set, seal = load_eval_set(Path(set_dir)), load_seal_model(settings)
    kb = IndexKnowledgeBase(passage_index(eval_set, seal, log=lambda _: None), eval_set.passages)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_dir(settings, "llm"))
    questions = sorted({q.text for q in eval_set.queries if q.answers})
    vectors = seal.embed_text(questions)
    for budget in budgets:
        by = "question" if budget.endswith("q") else "start"
        k, chars = (int(x) for x in budget.rstrip("q").split("x"))
        counts = []
        for question, vector in zip(questions, vectors):
            messages = build_messages(question, focus(kb.search(vector, k), chars, question, by), None)
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
            counts.append(len(ids))
        print(f"{k} passages x {chars} characters ({by}): prompt tokens p50 {statistics.median(counts):.0f}, "
              f"mean {statistics.fmean(counts):.0f} ({len(counts)} questions)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
