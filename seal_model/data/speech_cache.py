"""Synthesized speech -> trimmed Whisper encoder features, cached on disk in shards.

Training never re-runs TTS or Whisper: each shard holds the fp16 encoder output of a few
hundred clips plus a JSON line per clip (text, voice, kind, gold passage). Shards are written
atomically and named by their position in a deterministic work list, so the build resumes
where it stopped, several workers can split the list (`worker i of n`), and any prefix of the
list is a balanced mix: every question gets one voice before any gets a second.

Two recipes name two work lists (a cache folder holds one):
- "plain" (the first caches): flite and espeak-ng voices, clean audio, questions then sentences.
- "augmented": festival's diphone voices join the pool, questions and passage sentences are
  interleaved (any prefix holds both), and every training clip gets a seeded acoustic chain
  (speed, pitch, reverberation, telephone band, white/pink/brown/babble noise, gain;
  `augment.py`). Dev clips stay clean, so dev figures stay comparable.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from seal_model.audio import SAMPLE_RATE
from seal_model.data.augment import apply_augmentation, clip_rng, draw_augmentation
from seal_model.jsonl import read_jsonl
from seal_model.voices import FESTIVAL_TRAIN_VOICES, TRAIN_VOICES, synthesize_many

SHARD_SIZE = 256
FLITE_VOICES = tuple(v for v in TRAIN_VOICES if v.startswith("flite:"))
ESPEAK_VOICES = tuple(v for v in TRAIN_VOICES if v.startswith("espeak:"))
RECIPES = ("plain", "augmented")


@dataclass
class SpeechItem:
    id: str
    text: str
    voice: str
    kind: str  # "question" (has gold passages) | "sentence" (stage-1 alignment only)
    split: str
    gold: list[str]
    source: str = ""
    augment: str = ""  # the acoustic chain applied ("" or "clean": none)


def _pick(options: tuple[str, ...], key: str) -> str:
    return options[int(hashlib.md5(key.encode()).hexdigest()[:8], 16) % len(options)]


def _voice_for(item_id: str, round_index: int) -> str:
    """Alternate engines by round; the speaker within an engine varies per item."""
    pool = FLITE_VOICES if (round_index + int(item_id[-1], 16)) % 2 == 0 else ESPEAK_VOICES
    return _pick(pool, f"{item_id}|{round_index}")


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def passage_sentences(text: str, min_words: int = 5, max_words: int = 30) -> list[str]:
    """Readable sentences of a passage, for stage-1 alignment (speakable length only)."""
    return [s for s in _SENTENCE_END.split(text) if min_words <= len(s.split()) <= max_words]


def _augmented_voice_for(item_id: str, round_index: int) -> str:
    """flite 35%, espeak-ng 40%, festival 25%; the speaker within an engine varies per item."""
    key = f"{item_id}|{round_index}"
    share = int(hashlib.md5(("engine" + key).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    pool = FLITE_VOICES if share < 0.35 else ESPEAK_VOICES if share < 0.75 else FESTIVAL_TRAIN_VOICES
    return _pick(pool, key)


def _sentences(corpus_dir: Path) -> list[tuple[str, str, str, str]]:
    """(id, sentence, passage id, source) of every train passage, in a fixed hashed order."""
    sentences = []
    for passage in read_jsonl(corpus_dir / "passages.jsonl"):
        if passage["split"] == "train":
            for n, sentence in enumerate(passage_sentences(passage["text"])):
                sentences.append((f"s{passage['id'][1:]}_{n}", sentence, passage["id"], passage["source"]))
    sentences.sort(key=lambda s: hashlib.md5(s[0].encode()).hexdigest())
    return sentences


def work_items(
    corpus_dir: Path, rounds: int = 4, sentences_per_round: int = 20000, recipe: str = "plain"
) -> Iterator[SpeechItem]:
    """The deterministic work list: per round, every train/dev question in a new voice and a
    slice of passage sentences (train split only); "augmented" interleaves the two and names
    each clip's acoustic chain."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}: {', '.join(RECIPES)}")
    questions = [q for q in read_jsonl(corpus_dir / "questions.jsonl") if q["split"] in ("train", "dev")]
    sentences = _sentences(corpus_dir)
    for r in range(rounds):
        voice_for = _voice_for if recipe == "plain" else _augmented_voice_for
        items = [
            SpeechItem(f"{q['id']}~{r}", q["text"], voice_for(q["id"], r), "question", q["split"], q["gold"], q["source"])
            for q in questions
        ] + [
            SpeechItem(sid, text, voice_for(sid, r), "sentence", "train", [pid], source)
            for sid, text, pid, source in sentences[r * sentences_per_round : (r + 1) * sentences_per_round]
        ]
        if recipe == "augmented":
            items.sort(key=lambda item: hashlib.md5(item.id.encode()).hexdigest())
            for item in items:
                if item.split == "train":
                    item.augment = draw_augmentation(clip_rng(item.id)).describe()
        yield from items


def speak_items(items: list[SpeechItem], seed: int = 0) -> list[np.ndarray]:
    """The clips of a shard: each voice speaks its items in one call (festival starts once),
    then each training clip gets its seeded chain; babble is mixed from the shard's other clips."""
    by_voice: dict[str, list[int]] = {}
    for n, item in enumerate(items):
        by_voice.setdefault(item.voice, []).append(n)
    waves: list[np.ndarray] = [np.zeros(0, np.float32)] * len(items)
    for voice, positions in by_voice.items():
        for n, wave in zip(positions, synthesize_many(voice, [items[n].text for n in positions])):
            waves[n] = wave
    clean = list(waves)
    for n, item in enumerate(items):
        if item.augment and item.augment != "clean":
            rng = clip_rng(item.id, seed)
            chain = draw_augmentation(rng)  # the same draw that named item.augment
            others = [w for k, w in enumerate(clean) if k != n]
            waves[n] = apply_augmentation(clean[n], chain, rng, others)
    return waves


def speech_cache_dir(data_dir: Path, whisper_name: str, recipe: str = "plain") -> Path:
    """Where one Whisper's features for one recipe live: `speech/whisper-base[-augmented]`."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}: {', '.join(RECIPES)}")
    return Path(data_dir) / "speech" / (whisper_name if recipe == "plain" else f"{whisper_name}-{recipe}")


def shard_path(cache_dir: Path, index: int) -> Path:
    return cache_dir / f"shard_{index:05d}.npz"


def cached_shards(cache_dir: Path) -> list[Path]:
    """The finished shards, in work-list order. A build killed while writing leaves its
    `shard_N.PID.tmp.npz` behind; it matches `shard_*.npz` but is not a shard."""
    return sorted(p for p in cache_dir.glob("shard_*.npz") if re.fullmatch(r"shard_\d+\.npz", p.name))


def parse_shard_spec(spec: str) -> list[int]:
    """`0-54,133-162` -> the shard indices it names: a run can add data past a prefix of the
    work list (a second voice for every question) without rebuilding the shards before it."""
    indices: set[int] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        first, _, last = part.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise ValueError(f"bad shard range {part!r}: use N or A-B, comma-separated") from None
        if low < 0 or high < low:
            raise ValueError(f"bad shard range {part!r}: need 0 <= A <= B")
        indices.update(range(low, high + 1))
    if not indices:
        raise ValueError("empty shard selection")
    return sorted(indices)


def selected_shard_paths(cache_dir: Path, limit: int | None = None, only: list[int] | None = None) -> list[Path]:
    """The cached shards a run uses: the first `limit` present, or those whose index is in `only`."""
    paths = cached_shards(cache_dir)
    if only is not None:
        wanted = set(only)
        paths = [p for p in paths if int(p.stem.split("_")[1]) in wanted]
    return paths[:limit]


def run_shard_paths(cache_dir: Path, run_config: Mapping[str, Any]) -> list[Path]:
    """The shards a training run reads, from its `max_shards` and `shards` settings: one place,
    so training and the data card shipped beside its checkpoint count the same clips."""
    spec = run_config.get("shards")
    return selected_shard_paths(cache_dir, run_config.get("max_shards"), parse_shard_spec(spec) if spec else None)


def save_npz_atomically(path: Path, **arrays: np.ndarray) -> None:
    """np.savez (uncompressed: `load_shard` maps it) to a temporary file, then rename: a reader
    never sees half a file, and the temporary name is per process, so two writers of the same
    file (parallel builds, two training runs sharing the text-vector cache) cannot write into
    each other's temporary file."""
    tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def _write_shard(path: Path, items: list[SpeechItem], features: list[np.ndarray]) -> None:
    save_npz_atomically(
        path,
        features=np.concatenate(features).astype(np.float16),
        lengths=np.array([len(f) for f in features], dtype=np.int32),
        items=np.array([json.dumps(asdict(i)) for i in items]),
    )


def build_speech_cache(
    corpus_dir: Path,
    cache_dir: Path,
    encoder,
    max_shards: int | None = None,
    worker: int = 0,
    workers: int = 1,
    log: Callable[[str], None] = print,
    only: list[int] | None = None,
    recipe: str = "plain",
) -> int:
    """Build missing shards (this worker's share of the list, or of `only`); returns how many it wrote."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    items = list(work_items(corpus_dir, recipe=recipe))
    total = (len(items) + SHARD_SIZE - 1) // SHARD_SIZE
    if max_shards is not None:
        total = min(total, max_shards)
    written = 0
    todo = list(range(total)) if only is None else sorted(set(only) & set(range(total)))
    for index in todo[worker::workers]:
        path = shard_path(cache_dir, index)
        if path.exists():
            continue
        start = time.perf_counter()
        chunk = items[index * SHARD_SIZE : (index + 1) * SHARD_SIZE]
        waves = speak_items(chunk)
        synth_s = time.perf_counter() - start
        features = encoder.encode(waves, batch_size=16)
        _write_shard(path, chunk, features)
        written += 1
        done = len(cached_shards(cache_dir))
        seconds = sum(len(w) for w in waves) / SAMPLE_RATE
        log(
            f"shard {index}/{total} ({done} done): {len(chunk)} clips, {seconds / 60:.1f} min audio, "
            f"tts {synth_s:.0f}s, whisper {time.perf_counter() - start - synth_s:.0f}s"
        )
    return written


@dataclass
class CachedClip:
    item: SpeechItem
    features: np.ndarray  # (frames, d) float16


def mapped_member(path: Path, name: str) -> np.ndarray | None:
    """A stored (uncompressed) array of an .npz, memory-mapped in place instead of read.

    Why: a run over the whole work list holds tens of GB of features, more than this machine's
    memory; mapped, the OS pages in the clips each batch touches and drops them again. `np.savez`
    stores members uncompressed, so each member's .npy bytes sit contiguously in the file after
    the zip entry's local header. Returns None for a compressed member (the caller reads it).
    """
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{name}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        local_header = fh.read(30)  # fixed part of a zip local file header
        name_length, extra_length = struct.unpack("<HH", local_header[26:30])
        fh.seek(info.header_offset + 30 + name_length + extra_length)
        version = np.lib.format.read_magic(fh)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(fh)
        offset = fh.tell()
    if dtype.hasobject or 0 in shape:  # nothing to map (np.memmap refuses empty arrays)
        return None
    return np.memmap(path, dtype=dtype, mode="r", shape=shape, offset=offset, order="F" if fortran_order else "C")


def load_shard(path: Path) -> list[CachedClip]:
    """A shard's clips; their features are views of the memory-mapped feature block."""
    with np.load(path) as shard:
        offsets = np.concatenate([[0], np.cumsum(shard["lengths"])])
        items = shard["items"]
        features = mapped_member(path, "features")
        if features is None:
            features = shard["features"]
    return [
        CachedClip(SpeechItem(**json.loads(str(raw))), features[offsets[n] : offsets[n + 1]])
        for n, raw in enumerate(items)
    ]


def load_shards(cache_dir: Path, limit: int | None = None, only: list[int] | None = None) -> list[CachedClip]:
    """The selected cached clips in work-list order (fp16 features, mapped from disk, not read)."""
    return [clip for path in selected_shard_paths(cache_dir, limit, only) for clip in load_shard(path)]
