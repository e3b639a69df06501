"""`seal-rag report`: the paper-style tables, measured in one process and one session.

Retrieval (SEAL vs ASR pipeline vs text oracle) on held-out-voice evaluation sets, robustness
under noise and speed change, per-stage latency of whole turns, the deployed-ASR peer
(faster-whisper int8), Whisper input trimmed vs padded to 30 s, vector-search scale and the
app's peak memory. Everything written to docs/results/ comes from this run; the README's
Results block is regenerated from it.
"""
from __future__ import annotations

import json
import resource
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from evaluation.ablation import markdown as ablation_markdown
from evaluation.bench import bench_search, bench_turn, sample_kb_pipeline, sample_question_clips
from evaluation.evaluate import evaluate, passage_index
from evaluation.latency import percentiles
from evaluation.perturb import CONDITIONS
from rag_app.trace import STAGE_ORDER, Stage
from seal_model.audio import SAMPLE_RATE, WHISPER_SECONDS
from seal_model.device import describe_device

Log = Callable[[str], None]
README_START, README_END = "<!-- report:start -->", "<!-- report:end -->"


@dataclass
class ReportPlan:
    retrieval_queries: int = 600  # 300 questions x 2 held-out voices
    robustness_queries: int = 60  # per condition, on the first set only (5 conditions x 2 modes)
    turn_questions: int = 30
    search_sizes: tuple[int, ...] = (1_000, 10_000, 100_000)

    @classmethod
    def quick(cls) -> "ReportPlan":
        return cls(retrieval_queries=100, robustness_queries=40, turn_questions=30, search_sizes=(1_000, 10_000))


def retrieval_and_robustness(set_dir: Path, seal, transcriber, plan: ReportPlan, log: Log, robustness: bool = True) -> dict:
    from seal_model.data.eval_set import load_eval_set

    eval_set = load_eval_set(set_dir)
    index = passage_index(eval_set, seal, log)
    try:
        clean = evaluate(eval_set, seal, transcriber, ("seal", "asr", "text"), plan.retrieval_queries, log, index=index)
        robust = {}
        for name, perturb in ({"clean": None, **CONDITIONS}.items() if robustness else ()):
            log(f"robustness: {name}")
            report = evaluate(eval_set, seal, transcriber, ("seal", "asr"), plan.robustness_queries, log,
                              index=index, perturb=perturb, condition=name)
            robust[name] = report.overall
    finally:
        index.close()
    return {"set": eval_set.folder.name, "passages": len(eval_set.passages), "clean": asdict(clean), "robustness": robust}


def deployed_asr_and_padding(seal, clips: list[np.ndarray], log: Log) -> dict:
    """faster-whisper int8 (CTranslate2, the ASR people deploy) -> the same text tower, and the
    SEAL speech tower on the real length vs Whisper's 30 s padding, on the same clips."""
    from rag_app.model_store import ct2_whisper_dir

    out: dict = {}
    whisper_name = seal.config.whisper_name
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        out["faster_whisper"] = "not installed (pip install faster-whisper; `make report` does)"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            ct2 = ct2_whisper_dir("base" if "base" in whisper_name else "tiny.en", Path(tmp) / "ct2")
            model = WhisperModel(str(ct2), device="cpu", compute_type="int8")
            language = None if whisper_name.endswith(".en") else "en"
            times = []
            for n, clip in enumerate([clips[0]] + clips):  # the first call warms up and is dropped
                start = time.perf_counter()
                segments, _ = model.transcribe(clip, beam_size=1, language=language, without_timestamps=True,
                                               condition_on_previous_text=False, temperature=0.0, vad_filter=False)
                text = " ".join(s.text.strip() for s in segments)
                seal.embed_text([text or "."])
                if n:
                    times.append((time.perf_counter() - start) * 1000)
            out["faster_whisper"] = {"compute_type": "int8", **percentiles(times)}
    trimmed, padded = [], []
    for clip in clips:
        full = np.pad(clip, (0, max(0, int(WHISPER_SECONDS * SAMPLE_RATE) - len(clip))))
        for target, audio in ((trimmed, clip), (padded, full)):
            start = time.perf_counter()
            seal.embed_speech([audio])
            target.append((time.perf_counter() - start) * 1000)
    out["seal_trimmed"], out["seal_padded_30s"] = percentiles(trimmed), percentiles(padded)
    log(f"SEAL speech tower p50: trimmed {out['seal_trimmed']['p50_ms']:.0f} ms, padded to 30 s "
        f"{out['seal_padded_30s']['p50_ms']:.0f} ms")
    return out


def latency(settings, plan: ReportPlan, log: Log) -> dict:
    """Whole turns on the sample KB with the embedded LLM: SEAL and ASR on the same clips."""
    clips = sample_question_clips(plan.turn_questions, "piper:joe")
    with sample_kb_pipeline(settings, "report", max_new_tokens=32) as (pipeline, peak_rss_mb):
        log(f"latency: {len(clips)} spoken turns per mode")
        turns = bench_turn(pipeline, clips, log=log)
        extra = deployed_asr_and_padding(pipeline.seal, clips, log)
    return {"turns": turns, **extra, "app_peak_rss_mb_after_load": peak_rss_mb, "voice": "piper:joe",
            "kb": "sample (300 passages)"}


def run_report(settings, set_dirs: list[Path], out_dir: Path, plan: ReportPlan, log: Log = print) -> dict:
    from rag_app.model_store import load_seal_model, resolve_seal_checkpoint
    from rag_app.wiring import make_transcriber

    started = time.perf_counter()
    result: dict = {"device": describe_device(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "checkpoint": _shown(resolve_seal_checkpoint(settings), project_root(out_dir)),
                    "plan": asdict(plan)}
    result["latency"] = latency(settings, plan, log)
    seal = load_seal_model(settings)
    transcriber = make_transcriber(settings)
    result["sets"] = [retrieval_and_robustness(d, seal, transcriber, plan, log, robustness=n == 0)
                      for n, d in enumerate(set_dirs)]
    log("vector search at scale")
    result["search"] = bench_search(seal.dim, plan.search_sizes, 200, log=log)
    result["ablations"] = load_ablations(out_dir)
    result["peak_rss_mb_report_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["seconds"] = time.perf_counter() - started
    write_outputs(result, out_dir)
    return result


# ----- outputs ---------------------------------------------------------------------------
def _row(m: dict) -> str:
    return f"{m['top1']:.3f} | {m['top3']:.3f} | {m['top10']:.3f} | {m['mrr10']:.3f} | {m['n']}"


def markdown(result: dict) -> str:
    lines = [f"Measured {result['date']} on {result['device']} with `{result['checkpoint']}` "
             f"(`seal-rag report`, {result['seconds'] / 60:.0f} min).", ""]
    for s in result["sets"]:
        clean = s["clean"]
        lines += [f"**Retrieval, `{s['set']}`** ({s['passages']} passages, held-out voices):", "",
                  "| group | mode | Top-1 | Top-3 | Top-10 | MRR@10 | n |", "|---|---|---|---|---|---|---|"]
        for mode, m in clean["overall"].items():
            lines.append(f"| overall | {mode} | {_row(m)} |")
        for group, by_mode in sorted(clean["by_group"].items()):
            if group.startswith("voice="):
                for mode, m in by_mode.items():
                    lines.append(f"| {group} | {mode} | {_row(m)} |")
        seal1, asr1 = clean["overall"]["seal"]["top1"], clean["overall"]["asr"]["top1"]
        lines += ["", f"SEAL Top-1 = {seal1 / asr1:.2f} x the ASR pipeline's." if asr1 else "", ""]
        if not s["robustness"]:
            continue
        n_robust = next(iter(s["robustness"].values()))["seal"]["n"]
        lines += [f"**Robustness** (Top-1 / Top-3 on the first {n_robust} queries, each condition on the same clips):", "",
                  "| condition | SEAL | ASR |", "|---|---|---|"]
        for cond, by_mode in s["robustness"].items():
            lines.append(f"| {cond} | {by_mode['seal']['top1']:.3f} / {by_mode['seal']['top3']:.3f} | "
                         f"{by_mode['asr']['top1']:.3f} / {by_mode['asr']['top3']:.3f} |")
        lines.append("")
    lat = result["latency"]
    turns = lat["turns"]
    lines += [f"**Latency per stage** ({turns['questions']} spoken turns per mode, {lat['voice']}, {lat['kb']}, embedded LLM):", "",
              "| stage | SEAL p50 | SEAL p95 | ASR p50 | ASR p95 |", "|---|---|---|---|---|"]
    names = sorted({n for by in turns["stages"].values() for n in by},
                   key=lambda n: STAGE_ORDER.index(n) if n in STAGE_ORDER else 99)
    for name in names:
        cells = []
        for mode in ("seal", "asr"):
            row = turns["stages"][mode].get(name)
            cells += [f"{row['p50_ms']:.0f}", f"{row['p95_ms']:.0f}"] if row else ["-", "-"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    s2p = turns["speech_to_passages"]
    lines += ["", f"Speech -> passages p50: SEAL {s2p['seal']['p50_ms']:.0f} ms, ASR {s2p['asr']['p50_ms']:.0f} ms: "
              f"**ratio {turns['ratio_p50']:.3f}**."]
    fw = lat.get("faster_whisper")
    if isinstance(fw, dict):
        lines.append(f"faster-whisper int8 transcription + text tower p50 {fw['p50_ms']:.0f} ms "
                     f"(SEAL / faster-whisper: {lat['seal_trimmed']['p50_ms'] / fw['p50_ms']:.3f}).")
    else:
        lines.append(f"faster-whisper: {fw}.")
    lines.append(f"SEAL speech tower p50 on the real length {lat['seal_trimmed']['p50_ms']:.0f} ms vs padded to 30 s "
                 f"{lat['seal_padded_30s']['p50_ms']:.0f} ms.")
    lines += ["", "**Vector search** (embedded Chroma, k=5): " + ", ".join(
        f"{r['vectors']:,} vectors p50 {r['p50_ms']:.1f} ms / p95 {r['p95_ms']:.1f} ms" for r in result["search"]) + ".",
        f"Peak RSS of the app (models + embedded LLM loaded): {lat['app_peak_rss_mb_after_load']:.0f} MB.", ""]
    ablations = result.get("ablations")
    lines += [ablation_markdown(ablations) if isinstance(ablations, dict) else f"Ablations: {ablations}.", ""]
    return "\n".join(lines)


def load_ablations(out_dir: Path) -> dict | str:
    """The last `seal-rag ablate` result beside the report: its training runs do not fit in the
    report's hour, so they are a separate command whose table the report carries along."""
    path = out_dir / "ablation.json"
    if path.exists():
        return json.loads(path.read_text())
    return "not run yet: `seal-rag ablate` trains one short run per variant (stride, stage 1, pooling)"


def plots(result: dict, out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    s = result["sets"][0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    modes = list(s["clean"]["overall"])
    metrics = ["top1", "top3", "top10", "mrr10"]
    for i, mode in enumerate(modes):
        axes[0].bar(np.arange(4) + i * 0.27, [s["clean"]["overall"][mode][k] for k in metrics], 0.27, label=mode)
    axes[0].set_xticks(np.arange(4) + 0.27, ["Top-1", "Top-3", "Top-10", "MRR@10"])
    axes[0].set_ylim(0, 1)
    axes[0].set_title(f"retrieval, {s['set']} ({s['passages']} passages)")
    axes[0].legend()
    conditions = list(s["robustness"])
    for mode in ("seal", "asr"):
        values = [s["robustness"][c][mode]["top1"] for c in conditions]
        axes[1].plot(conditions, values, marker="o", label=mode)
    axes[1].set_ylim(0, 1)
    axes[1].set_title("Top-1 under noise and speed change")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(out_dir / "retrieval.png", dpi=110)
    names.append("retrieval.png")
    plt.close(fig)

    turns = result["latency"]["turns"]
    fig, ax = plt.subplots(figsize=(11, 3.0))
    colours = dict(zip(STAGE_ORDER, plt.cm.tab10.colors))
    shown = set()
    for y, mode in enumerate(("seal", "asr")):
        left = 0.0
        for stage in Stage:
            row = turns["stages"][mode].get(stage)
            if row is None:
                continue
            ax.barh(y, row["p50_ms"], left=left, color=colours[stage], label=None if stage in shown else stage)
            shown.add(stage)
            left += row["p50_ms"]
    ax.set_yticks([0, 1], ["SEAL", "ASR"])
    ax.set_xlabel("ms (p50 per stage)")
    ax.set_title(f"one spoken turn, {result['device']}")
    ax.legend(ncol=9, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    fig.tight_layout()
    fig.savefig(out_dir / "latency.png", dpi=110)
    names.append("latency.png")
    plt.close(fig)
    return names


def write_outputs(result: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(result, indent=2))
    for s in result["sets"]:  # the `seal-rag eval --json` shape, which `seal-rag ship --eval-json` reads
        (out_dir / f"eval_{s['set']}.json").write_text(json.dumps(s["clean"], indent=2))
    text = markdown(result)
    (out_dir / "report.md").write_text("# Results\n\n" + text)
    images = plots(result, out_dir) + (["ablation.png"] if (out_dir / "ablation.png").exists() else [])
    root = project_root(out_dir)
    update_readme(root / "README.md", text, [f"{_shown(out_dir, root)}/{n}" for n in images])


def project_root(out_dir: Path) -> Path:
    """The checkout the results are written into: the nearest folder above `out_dir` whose
    README.md has the Results block (the results live in the project, not beside an installed
    package, so the package's own location says nothing); else the working directory."""
    for folder in out_dir.resolve().parents:
        readme = folder / "README.md"
        if readme.is_file() and README_START in readme.read_text():
            return folder
    return Path.cwd()


def _shown(path: Path, root: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def update_readme(readme: Path, text: str, images: list[str]) -> None:
    """Replace the README's generated Results block (between the markers) with this run's."""
    content = readme.read_text() if readme.is_file() else ""
    if README_START not in content or README_END not in content:
        return
    block = "\n".join([README_START, "", text, *[f"![{Path(i).stem}]({i})" for i in images], "", README_END])
    before, rest = content.split(README_START, 1)
    after = rest.split(README_END, 1)[1]
    readme.write_text(before + block + after)
