"""The embedded LLM reads the start two prompts share once, and answers exactly as without it."""
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from rag_app.llm import LocalLLM
from rag_app.prompt_cache import PromptCache


class _Batch(dict):
    def to(self, device):
        return self


class _Tokenizer:
    """Token ids are the words' numbers: "7 8 9" -> [7, 8, 9]; the chat template joins the messages."""

    def apply_chat_template(self, messages, **kwargs):
        return _Batch(input_ids=torch.tensor([[int(word) for m in messages for word in m["content"].split()]]))

    def decode(self, ids, **kwargs):
        return "".join(f"{int(i)} " for i in ids)


def _tiny_model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    return LlamaForCausalLM(config).eval()


def _answer(llm: LocalLLM, words: str) -> str:
    return "".join(llm.stream([{"role": "user", "content": words}], max_new_tokens=12))


def test_a_prompt_sharing_the_last_ones_start_gets_the_same_answer_and_reuses_the_cache():
    shared = " ".join(str(n) for n in range(1, 31))  # the instructions every prompt starts with
    first, second = f"{shared} 40 41 42 43", f"{shared} 50 51 52"
    without = _answer(LocalLLM.from_parts("tiny", _Tokenizer(), _tiny_model()), second)

    llm = LocalLLM.from_parts("tiny", _Tokenizer(), _tiny_model())
    _answer(llm, first)
    kept = llm._prompt_cache.shared_tokens
    assert kept >= 34  # the first prompt and its answer, less the last token
    taken = llm._prompt_cache.take([int(w) for w in second.split()])
    assert taken.get_seq_length() == 30  # cut back to the shared 30 tokens
    llm._prompt_cache.keep(taken, list(range(1, 31)))  # put it back as it was cut
    assert _answer(llm, second) == without


def test_a_prompt_with_nothing_in_common_starts_a_fresh_cache():
    cache = PromptCache(min_shared=8)
    model = _tiny_model()
    ids = torch.tensor([list(range(1, 21))])
    taken = cache.take(ids[0].tolist())
    model(input_ids=ids, cache=taken, use_cache=True)
    cache.keep(taken, ids[0].tolist())
    assert cache.shared_tokens == 20
    assert cache.take([5, 6, 7, 8, 9, 10, 11, 12, 13]).get_seq_length() == 0  # other start: fresh
    assert cache.shared_tokens == 0  # taken: nothing stale stays behind
