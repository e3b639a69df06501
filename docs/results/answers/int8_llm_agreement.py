"""Stop 30: SmolLM2-135M float32 vs PyTorch dynamic int8 (per-tensor / per-channel weights, lm_head in or out):
next-token agreement on the replies of answers_ood-names_text_float32.json, and a 600-token prefill (1 thread).
Run from the repository root: python docs/results/answers/int8_llm_agreement.py"""
import copy, json, time, warnings, torch
warnings.filterwarnings("ignore")
torch.set_num_threads(1)
from transformers import AutoModelForCausalLM, AutoTokenizer
from torch.ao.quantization import quantize_dynamic, default_dynamic_qconfig, per_channel_dynamic_qconfig
d = "/root/.cache/seal-rag/models/smollm2-135m-instruct"
tok = AutoTokenizer.from_pretrained(d); fp = AutoModelForCausalLM.from_pretrained(d).eval()
res = json.load(open("docs/results/answers/answers_ood-names_text_float32.json"))["results"]
# teacher-forced: prompts rebuilt crudely = question + reply text; compare next-token argmax agreement
texts = [r["reply"] for r in res[::4]]
def variant(qc, skip_head):
    m = copy.deepcopy(fp)
    spec = {n: qc for n, l in m.named_modules() if isinstance(l, torch.nn.Linear) and not (skip_head and n == "lm_head")}
    return quantize_dynamic(m, spec, dtype=torch.qint8, inplace=True)
vs = {"pt_all": variant(default_dynamic_qconfig, False), "pc_all": variant(per_channel_dynamic_qconfig, False),
      "pc_nohead": variant(per_channel_dynamic_qconfig, True), "pt_nohead": variant(default_dynamic_qconfig, True)}
with torch.inference_mode():
    ids = [tok(t, return_tensors="pt")["input_ids"] for t in texts]
    ref = [fp(input_ids=i).logits[0].argmax(-1) for i in ids]
    for k, m in vs.items():
        agree = sum(int((m(input_ids=i).logits[0].argmax(-1) == r).sum()) for i, r in zip(ids, ref)); tot = sum(len(r) for r in ref)
        x = torch.randint(100, 40000, (1, 600)); s = time.perf_counter(); m(input_ids=x, logits_to_keep=1); t = time.perf_counter() - s
        print(k, "argmax agreement", round(agree / tot, 3), "prefill600 ms", round(t * 1000), flush=True)
