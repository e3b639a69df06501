"""What the `seal-rag` subcommands share: the resolved settings and how a user's mistake ends a
command (one red line and exit status 2, never a traceback)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NoReturn

import typer

from rag_app.settings import Settings


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the root callback resolved (defaults <- file <- environment <- flags)."""
    return ctx.find_root().obj


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Errors of these kinds are the user's to fix (a bad file, a missing model): exit status 2."""
    try:
        yield
    except kinds as exc:
        fail(str(exc), 2)


class AnswerPrinter:
    """A reply in the terminal: its pieces as they come (a terminal cannot take them back), and
    when the kept reply is shorter (an unfinished or repeated sentence dropped), what it kept."""

    def __init__(self) -> None:
        self.shown = ""

    def token(self, piece: str) -> None:
        self.shown += piece
        typer.echo(piece, nl=False)

    def reply(self, kept: str) -> None:
        if kept.strip() != self.shown.strip():
            typer.secho(f"\n(the reply keeps: {kept.strip() or 'nothing'})", dim=True)
        self.shown = ""


def load_set_and_model(settings: Settings, set_dir: Path, threads: int):
    """(eval set, SEAL model) for the commands that measure on a set."""
    import torch

    from rag_app.model_store import ModelNotAvailable, load_seal_model
    from seal_model.data.eval_set import EvalSetError, load_eval_set

    if threads:
        torch.set_num_threads(threads)
    with user_errors(EvalSetError, ModelNotAvailable, ValueError):
        return load_eval_set(set_dir), load_seal_model(settings)
