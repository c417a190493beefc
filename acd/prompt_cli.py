"""``acd prompts import|list``: the customer's own prompts on the command line (R-PROMPTS).

    acd prompts import welcome.mp3 night.flac --lang sv [--config acd.yaml | --directory DIR]
    acd prompts import recording.ogg --lang en --id emergency
    acd prompts list [--config acd.yaml | --directory DIR]

Every file is converted (:mod:`acd.prompt_audio`) before anything is written: one bad file
refuses the whole import and leaves the directory as it was.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TextIO

from acd.config.prompts import DEFAULT_DIRECTORY
from acd.config.types import check_language, check_prompt_id
from acd.errors import ValidationError
from acd.prompts import NewPrompt, PromptCatalogue, store


def _target(args: argparse.Namespace) -> tuple[Path, tuple[str, ...] | None]:
    """The prompt directory and the configured languages (None without ``--config``)."""
    if args.config:
        from acd.config import load_config  # noqa: PLC0415

        config = load_config(args.config)
        directory = args.directory or config.prompts.directory
        return Path(directory), tuple(config.languages)
    return Path(args.directory or DEFAULT_DIRECTORY), None


def import_files(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``acd prompts import``: convert every file, then store them all. Raises
    :class:`~acd.errors.ValidationError` for a bad id or language and
    :class:`~acd.prompts.PromptError` for a file that cannot be imported; nothing is
    written then."""
    from acd.prompt_audio import prepare  # noqa: PLC0415 - numpy, soundfile: only here

    out = sys.stdout if out is None else out
    directory, languages = _target(args)
    try:
        language = check_language(args.lang)
    except ValueError as error:
        raise ValidationError(f"--lang: {error}") from None
    if languages is not None and language not in languages:
        raise ValidationError(f"--lang {language!r} is not one of the configured {list(languages)}")
    files = [Path(name) for name in args.files]
    if args.id is not None and len(files) != 1:
        raise ValidationError("--id names one prompt: give exactly one file with it")
    prepared: list[NewPrompt] = []
    ids: set[str] = set()
    for path in files:
        raw_id = args.id if args.id is not None else path.name.partition(".")[0]
        try:
            prompt_id = str(check_prompt_id(raw_id))
        except ValueError as error:
            hint = "" if args.id is not None else " (taken from the file name; give --id)"
            raise ValidationError(f"{path}: prompt id {raw_id!r}: {error}{hint}") from None
        if prompt_id in ids:
            raise ValidationError(f"{path}: prompt id {prompt_id!r} is given twice")
        ids.add(prompt_id)
        prepared.append(prepare(path, prompt_id, language))
    written = store(directory, prepared, dt.datetime.now(dt.UTC))
    for prompt, path in zip(prepared, written, strict=True):
        print(f"{prompt.language}/{prompt.prompt_id}: {path} ({prompt.seconds:.1f} s)", file=out)
    return 0


def list_prompts(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``acd prompts list``: the customer's prompts, one line each."""
    out = sys.stdout if out is None else out
    directory, _ = _target(args)
    catalogue = PromptCatalogue(directory)
    entries = sorted(catalogue.customer.values(), key=lambda e: (e.language, e.prompt_id))
    if not entries:
        print(f"{directory}: no prompts of your own yet", file=out)
    for entry in entries:
        print(
            f"{entry.language}/{entry.prompt_id}: {entry.seconds:.1f} s from {entry.source}"
            f" at {entry.imported_at.isoformat()}",
            file=out,
        )
    return 0


def main(args: argparse.Namespace) -> int:
    """Run ``acd prompts <action>``; errors propagate as :class:`~acd.errors.ACDError`."""
    if args.action == "import":
        return import_files(args)
    return list_prompts(args)
