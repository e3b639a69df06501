"""The data card shipped beside a checkpoint, written from the run's own files (never by hand)."""
from __future__ import annotations

import csv
import json
import re
import shutil
from collections import Counter
from pathlib import Path

from seal_model.data.bigbench import SOURCE_NAMES
from seal_model.data.speech_cache import load_shard
from seal_model.voices import NEVER_TRAINED


def training_seconds(rows: list[dict]) -> float:
    """Sum wall time over resumed segments: the `seconds` column restarts at each resume."""
    total, last = 0.0, 0.0
    for row in rows:
        now = float(row["seconds"])
        if now < last:
            total += last
        last = now
    return total + last


def data_stats(shard_paths: list[Path]) -> dict:
    """What a run trained on, counted from the shards it read (`run_shard_paths`)."""
    clips = [clip for path in shard_paths for clip in load_shard(path)]
    train = [c for c in clips if c.item.split == "train"]
    return {
        "shards": len(shard_paths),
        "clips": len(clips),
        "train_clips": len(train),
        "dev_clips": len(clips) - len(train),
        "train_hours": round(sum(len(c.features) for c in train) / 50 / 3600, 2),
        "distinct_train_questions": len({c.item.text for c in train if c.item.kind == "question"}),
        "train_sentences": sum(1 for c in train if c.item.kind == "sentence"),
        "by_source": dict(Counter(c.item.source for c in train)),
        "by_engine": dict(Counter(c.item.voice.split(":")[0] for c in train)),
        "distinct_voices": len({c.item.voice for c in train}),
        "flite_voices": sorted({c.item.voice for c in train if c.item.voice.startswith("flite:")}),
        "festival_voices": sorted({c.item.voice for c in train if c.item.voice.startswith("festival:")}),
        "espeak_voices": len({c.item.voice for c in train if c.item.voice.startswith("espeak:")}),
        # a voice kept for evaluation that turns up in training would void every held-out figure
        "never_trained_voices_in_training": sorted({c.item.voice for c in train} & set(NEVER_TRAINED)),
        "augmented_clips": sum(1 for c in train if c.item.augment not in ("", "clean")),
        "augment_effects": dict(Counter(
            part.rstrip("0123456789.+-dB") for c in train if c.item.augment not in ("", "clean")
            for part in c.item.augment.split("+")
        )),
    }


def _eval_table(report: dict) -> list[str]:
    lines = ["| group | mode | n | Top-1 | Top-3 | Top-10 | MRR@10 |", "|---|---|---|---|---|---|---|"]
    groups = [("overall", report["overall"])] + sorted(report["by_group"].items())
    for name, by_mode in groups:
        for mode, m in by_mode.items():
            lines.append(f"| {name} | {mode} | {m['n']} | {m['top1']:.3f} | {m['top3']:.3f} | {m['top10']:.3f} | {m['mrr10']:.3f} |")
    lines += ["", "| mode | waveform -> query embedding p50 (ms) | p95 (ms) |", "|---|---|---|"]
    for mode, lat in report["latency"].items():
        lines.append(f"| {mode} | {lat['p50_ms']:.1f} | {lat['p95_ms']:.1f} |")
    return lines


_RUN_HEADING = re.compile(r"^#{2,} (Training data.*|Training|Before this run.*)$")
_ABSOLUTE = re.compile(r"`(/[^`]+)`")


def portable(path: str) -> str:
    """A folder as the card names it: a shipped checkpoint relative to the package, anything else by
    its last two names (`runs/c-ctc`, `c-ctc/checkpoint`). An absolute path names one machine's
    folders (the card and the shipped train_config.json recorded /work/... and /root/... paths)."""
    parts = Path(path).parts
    if not Path(path).is_absolute():
        return path
    if "seal_model" in parts and "checkpoints" in parts[parts.index("seal_model"):]:
        return "/".join(parts[parts.index("seal_model"):])
    return "/".join(parts[-2:])


def _runs(card: str) -> list[dict]:
    """The runs a card describes, its own first, then each earlier one it carries: per run the
    'Training data' heading and body, the 'Training' body and the 'Before this run' body (where it
    was warm-started from), each a list of lines, without heading levels."""
    runs: list[dict] = []
    section = None
    for line in card.split("## Held-out evaluation")[0].splitlines():
        heading = _RUN_HEADING.match(line)
        if heading:
            title = heading.group(1)
            if title.startswith("Training data"):
                runs.append({"data_title": title, "data": [], "training": [], "from": []})
            section = "data" if title.startswith("Training data") else "training" if title == "Training" else "from"
        elif runs and section and not line.startswith("![losses]"):
            runs[-1][section].append(_ABSOLUTE.sub(lambda m: f"`{portable(m.group(1))}`", line))
    for run in runs:
        for key in ("data", "training", "from"):
            run[key] = "\n".join(run[key]).strip().splitlines()
    return runs


def _same_run(a: dict, b: dict) -> bool:
    """Two descriptions of one training run (its steps, wall time and dev scores say so)."""
    return bool(a["training"]) and a["training"] == b["training"]


def _earlier_training(config: dict, own: dict | None = None) -> list[str]:
    """A warm-started run carries the data and training of the checkpoint it started from, and
    of everything that checkpoint started from in turn (a chain of warm starts).

    `seal-rag ship` over the checkpoint a run started from, run a second time, read the card the
    first ship had written as the parent's and put the run in its own history again (the shipped
    card held one run twice). A parent card describing this same run (`own`) is therefore read as
    an earlier ship of it, and consecutive repeats already in a chain are dropped."""
    if not config.get("init_from"):
        return []
    started_from = f"Warm-started from `{portable(config['init_from'])}`."
    earlier = Path(config["init_from"]) / "DATA_CARD.md"
    chain = _runs(earlier.read_text()) if earlier.exists() else []
    if own is not None and chain and _same_run(own, chain[0]):
        started_from = "\n".join(chain[0]["from"]) or started_from  # what the first ship recorded
        chain = chain[1:]
    chain = [run for n, run in enumerate(chain) if n == 0 or not _same_run(run, chain[n - 1])]
    lines = ["## Before this run: the checkpoint it started from", "", started_from]
    for level, run in enumerate(chain, start=3):
        lines += ["", f"{'#' * level} {run['data_title']}", *run["data"]]
        if run["training"]:
            lines += ["", f"{'#' * level} Training", *run["training"]]
        if run["from"]:
            lines += ["", f"{'#' * level} Before this run: the checkpoint it started from", "", *run["from"]]
    return lines + [""]


def _portable_config(run_dir: Path) -> str:
    """The run's train_config.json as shipped: its folders named by `portable`, not by absolute path."""
    config = json.loads((run_dir / "train_config.json").read_text())
    shipped = {key: portable(value) if isinstance(value, str) and Path(value).is_absolute() else value
               for key, value in config.items()}
    return json.dumps(shipped, indent=2)


def _data_lines(stats: dict) -> list[str]:
    return [
        "- Corpus: the BIG-bench 1.0.0 sdist; training clips by source: "
        + "; ".join(f"{SOURCE_NAMES.get(k, k)} {n}" for k, n in sorted(stats["by_source"].items()))
        + ". Split by passage hash; only the train split is trained on.",
        f"- Clips: {stats['train_clips']} training clips ({stats['train_hours']} h of speech) from "
        f"{stats['shards']} feature shards; {stats['distinct_train_questions']} distinct training questions, "
        f"{stats['train_sentences']} passage sentences; {stats['dev_clips']} dev clips.",
        f"- By engine: {stats['by_engine']}.",
        f"- Voices: {stats['distinct_voices']} distinct training voices: flite {', '.join(stats['flite_voices'])}, "
        + (f"festival {', '.join(stats['festival_voices'])}, " if stats.get("festival_voices") else "")
        + (f"{stats['espeak_voices']} espeak-ng accent/variant/rate settings. " if stats.get("espeak_voices") else "")
        + f"Never trained on (kept for evaluation): {', '.join(NEVER_TRAINED)}"
        + ("; none of them is in the training clips." if not stats.get("never_trained_voices_in_training")
           else f"; WARNING, found in the training clips: {', '.join(stats['never_trained_voices_in_training'])}."),
        (f"- Augmentation: {stats['augmented_clips']} of {stats['train_clips']} training clips carry a seeded "
         f"acoustic chain; effects used: {stats['augment_effects']}."
         if stats.get("augmented_clips") else "- Augmentation: none (speed and accent variety come from the voices)."),
    ]


def write_card(run_dir: Path, out_dir: Path, stats: dict, eval_report: dict | None) -> Path:
    """Copy the run's checkpoint (weights in float16) and loss plot to out_dir and write
    DATA_CARD.md there."""
    from seal_model.checkpoint import CONFIG_FILE, WEIGHTS_FILE, save_half_precision

    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(run_dir / "checkpoint" / CONFIG_FILE, out_dir / CONFIG_FILE)
    save_half_precision(run_dir / "checkpoint" / WEIGHTS_FILE, out_dir / WEIGHTS_FILE)
    for name in ("loss.png", "loss.csv", "train_config.json"):
        if not (run_dir / name).exists():  # never leave the previous checkpoint's file beside this one's card
            (out_dir / name).unlink(missing_ok=True)
        elif name == "train_config.json":
            (out_dir / name).write_text(_portable_config(run_dir))
        else:
            shutil.copy2(run_dir / name, out_dir / name)
    config = json.loads((run_dir / "train_config.json").read_text())
    model = json.loads((run_dir / "checkpoint" / "config.json").read_text())
    rows = list(csv.DictReader(open(run_dir / "loss.csv")))
    text_lr = f", fine-tuned text layers x{config.get('text_layer_lr_scale', 1.0)}" if model["trainable_text_layers"] else ""
    # Older runs lack steps_run: their settings are all there is (a warm start then ran no CTC warm-up).
    steps = config.get("steps_run") or {"ctc_warmup": config.get("stage0_steps", 0), "stage1": config["stage1_steps"],
                                        "stage2": config["stage2_steps"]}
    seconds = training_seconds(rows)
    dev = [r for r in rows if r["dev_top1"]]
    lines = [
        "# SEAL checkpoint: data card",
        "",
        "Generated by `seal-rag ship` from the training run's files.",
        "",
        "## Model",
        f"- Whisper `{model['whisper_name']}` (fingerprint {model['whisper_fingerprint']}), frozen; "
        f"text encoder `{model['text_encoder_name']}` (fingerprint {model['text_encoder_fingerprint']}), frozen.",
        f"- Adapter: LayerNorm -> Conv1D (kernel {model['conv_kernel']}, stride {model['conv_stride']}, "
        f"{model['conv_channels']} channels) -> "
        + (f"{model['adapter_layers']} transformer layers -> " if model.get("adapter_layers") else "")
        + f"length adapter `{model['length_adapter']}` "
        + (f"({len(model['ctc_vocab'])} frequent word pieces + blank + every other word piece behind the 'other' class) "
           if model.get("ctc_full_vocab") else f"({len(model['ctc_vocab'])} word pieces + blank + other) ")
        + f"-> text encoder layers ({model['trainable_text_layers']} fine-tuned) -> mean pool -> "
        + ("shared linear layer (both towers) -> L2 norm." if model.get("projection", "shared") == "shared"
           else "speech projection -> L2 norm; the text tower is the stock encoder."),
        "",
        "## Training data (synthesized speech, all offline)",
        *(_data_lines(stats) if stats["train_clips"] else
          ["- None: a conversion with no training steps; the data is that of the checkpoint it started from (below)."]),
        "",
        "## Training",
        f"- Steps: CTC warm-up {steps['ctc_warmup']}, stage 1 {steps['stage1']}, "
        f"stage 2 {steps['stage2']}; batch {config['batch_size']}; lr {config['lr']} "
        f"(stage 2 x{config['stage2_lr_scale']}{text_lr}); temperature {config['temperature']}; "
        f"{config['hard_negatives']} mined hard negatives per question; "
        f"CoSENT weight {config.get('cosent_weight', 0.0)}; spoken passage sentences as stage-2 queries: "
        f"{'yes' if config.get('sentence_queries') else 'no'}; seed {config['seed']}.",
        f"- Wall time: {seconds / 60:.0f} min on {config['threads']} CPU thread{'s' if config['threads'] != 1 else ''}.",
    ]
    if dev:
        lines.append(f"- Dev retrieval (training voices, dev split) at the end: Top-1 {float(dev[-1]['dev_top1']):.3f}, "
                     f"Top-10 {float(dev[-1]['dev_top10']):.3f}.")
    start_file = run_dir / "start_dev.json"
    if start_file.exists():
        start = json.loads(start_file.read_text())
        lines.append(f"- Dev retrieval of the starting checkpoint on the same dev set: Top-1 {start['dev_top1']:.3f}, "
                     f"Top-10 {start['dev_top10']:.3f}.")
    # The "![losses]" marker also tells a later card where this one's own section ends.
    plot = "![losses](loss.png)" if (out_dir / "loss.png").exists() else "![losses]: none (a conversion: no training steps)"
    own = _runs("\n".join(lines))[0]
    lines += ["", plot, ""] + _earlier_training(config, own)
    if eval_report:
        lines += [f"## Held-out evaluation: `{eval_report['set_name']}`, {eval_report['passages']} passages, "
                  f"device {eval_report['device']}", ""] + _eval_table(eval_report)
    (out_dir / "DATA_CARD.md").write_text("\n".join(lines) + "\n")
    return out_dir
