"""Command-line options generated from a config dataclass: each field marked `option(...)` (see
`seal_model.train_config`) becomes `--field-name` with the field's type, default and help, so a
default lives in exactly one place and a new config field is an option by marking it."""
from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from pathlib import Path
from typing import Any, Callable, Optional

import typer

_CLI_TYPES = {"path": Path}


def _option_fields(config_cls: type) -> list[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(config_cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(config_cls) if "cli" in f.metadata]


def _cli_annotation(field: dataclasses.Field, hint: Any) -> Any:
    """The field's type as Typer reads it: `X | None` as Optional[X], a path-valued string as Path."""
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
    base = _CLI_TYPES.get(field.metadata.get("cli_type"), base)
    return Optional[base] if optional else base


def _parameters(config_cls: type) -> list[inspect.Parameter]:
    params = []
    for field, hint in _option_fields(config_cls):
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        default = ... if required else field.default
        option = typer.Option(default, help=field.metadata["cli"] or None)
        params.append(inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                        annotation=_cli_annotation(field, hint)))
    return params


def config_options(config_cls: type) -> Callable[[Callable], Callable]:
    """Decorate a command taking `options: dict`: Typer sees the config's options after the
    command's own parameters, and the command gets their values by field name (paths as str,
    as the config stores them)."""

    def decorate(command: Callable) -> Callable:
        names = [field.name for field, _ in _option_fields(config_cls)]
        own = [p for p in inspect.signature(command).parameters.values() if p.name != "options"]

        def run(**kwargs: Any) -> Any:
            options = {name: kwargs.pop(name) for name in names}
            options = {k: str(v) if isinstance(v, Path) else v for k, v in options.items()}
            return command(options=options, **kwargs)

        run.__name__, run.__doc__, run.__wrapped__ = command.__name__, command.__doc__, command
        run.__annotations__ = {k: v for k, v in command.__annotations__.items() if k != "options"}
        run.__signature__ = inspect.Signature(own + _parameters(config_cls))
        return run

    return decorate
