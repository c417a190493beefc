"""The prompt catalogue (R-PROMPTS): the shipped prompt set plus the customer's own.

A prompt is named by an id (``welcome``, ``night``) and played in a language. The shipped
set is ``freeswitch/prompts/manifest.toml`` (group ``acd``), installed below each
language's sound-prefix and played with the phrase macro ``acd_prompt:<id>``. The
customer's prompts live in one directory (``prompts.directory``)::

    <directory>/manifest.toml          what was imported or recorded, and when
    <directory>/<language>/<id>.wav    mono 16-bit PCM at :data:`RATE` Hz

and one of the same id and language overrides the shipped one: :meth:`PromptCatalogue.resolve`
gives the absolute path of the customer's file, else the shipped phrase.

The customer manifest (TOML) has one table per prompt::

    [sv.welcome]
    file = "sv/welcome.wav"
    source = "welcome.mp3"            # the imported file's name, or "phone"
    source_sha256 = "…"               # of the imported file's bytes
    sha256 = "…"                      # of the written WAV
    seconds = 3.52
    imported_at = 2026-11-29T18:40:00Z

Writers (``acd prompts import``, the phone recording) hold ``<directory>/.lock`` while
they write the WAV and the manifest, each through a temporary file and a rename, so a
reader (FreeSWITCH, the engine, ``check-config``) never sees half a file.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import tempfile
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from acd.config.problems import format_path
from acd.config.types import check_language, check_prompt_id, prompt_refs
from acd.errors import ACDError
from freeswitch.media import Phrase, Playable, SoundFile
from freeswitch.prompts.generate import MANIFEST as DEFAULT_MANIFEST
from freeswitch.prompts.generate import PromptError as ManifestError
from freeswitch.prompts.generate import load_manifest

if TYPE_CHECKING:
    from acd.config.model import Config

RATE = 8000
"""Sample rate (Hz) of every prompt file: that of the shipped set (``generate.py``)."""

MANIFEST_NAME = "manifest.toml"
_log = structlog.get_logger("acd.prompts")

DEFAULT_GROUP = "acd"
"""The group of the shipped manifest whose prompts are played by id (``acd_prompt``)."""
PROMPT_MACRO = "acd_prompt"


class PromptError(ACDError):
    """A prompt could not be imported, recorded or read: the message says which and why."""

    slug = "prompt-error"


class PromptMissingError(PromptError, LookupError):
    """No prompt of that id in that language, neither the customer's nor a shipped one."""

    slug = "prompt-missing"


@dataclass(frozen=True, slots=True)
class CustomerPrompt:
    """One entry of the customer manifest; ``path`` is absolute."""

    prompt_id: str
    language: str
    path: str
    source: str
    source_sha256: str
    sha256: str
    seconds: float
    imported_at: dt.datetime


def _default_ids(manifest: Path) -> frozenset[tuple[str, str]]:
    try:
        parsed = load_manifest(manifest)
    except ManifestError as error:
        raise PromptError(str(error)) from None
    return frozenset((p.lang, p.name) for p in parsed.prompts if p.group == DEFAULT_GROUP)


def read_manifest(directory: Path) -> dict[tuple[str, str], CustomerPrompt]:
    """The customer manifest of ``directory`` as ``{(language, id): entry}``; empty when
    there is none yet. Raises :class:`PromptError` naming the file and entry when it is
    malformed."""
    path = directory / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise PromptError(f"{path}: {error.strerror or error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PromptError(f"{path}: {error}") from None
    entries: dict[tuple[str, str], CustomerPrompt] = {}
    for language, prompts in data.items():
        if not isinstance(prompts, dict):
            raise PromptError(f"{path}: [{language}] must be a table of prompts")
        for prompt_id, entry in prompts.items():
            where = f"{path}: [{language}.{prompt_id}]"
            try:
                check_language(language)
                check_prompt_id(prompt_id)
                relative = entry["file"]
                if relative != f"{language}/{prompt_id}.wav":
                    raise ValueError(f"file must be {language}/{prompt_id}.wav")
                entries[(language, prompt_id)] = CustomerPrompt(
                    prompt_id=prompt_id,
                    language=language,
                    path=str(directory / relative),
                    source=str(entry["source"]),
                    source_sha256=str(entry["source_sha256"]),
                    sha256=str(entry["sha256"]),
                    seconds=float(entry["seconds"]),
                    imported_at=entry["imported_at"],
                )
            except (KeyError, TypeError, ValueError) as error:
                raise PromptError(f"{where}: {error}") from None
    return entries


class PromptCatalogue:
    """Every prompt that can be played: the customer's (``directory``) over the shipped
    (``default_manifest``, group ``acd``).

    Built from the files (reads both manifests and checks which customer files exist);
    :meth:`resolve` answers from memory after one ``stat`` of the customer manifest, and
    re-reads it when it changed (an import or a phone recording, from any process), so a
    new prompt plays from the next call on. Raises :class:`PromptError` if a manifest is
    malformed when built; a customer manifest that turns bad later is logged and the last
    good one kept.
    """

    def __init__(self, directory: str | Path, default_manifest: Path = DEFAULT_MANIFEST) -> None:
        self.directory = Path(directory)
        self._default_manifest = default_manifest
        self._defaults = _default_ids(default_manifest)
        self._customer: dict[tuple[str, str], CustomerPrompt] = {}
        self._seen: tuple[int, int, int] | None = None
        self.refresh()

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.directory / MANIFEST_NAME)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def refresh(self) -> None:
        """Re-read the customer manifest; entries whose file is gone are left out.
        Raises :class:`PromptError` if it is malformed (nothing changes then)."""
        stamp = self._stamp()
        entries = read_manifest(self.directory)
        self._customer = {key: e for key, e in entries.items() if os.path.isfile(e.path)}
        self._seen = stamp

    def _fresh(self) -> None:
        if self._stamp() == self._seen:
            return
        try:
            self.refresh()
        except PromptError as error:
            _log.warning("acd.prompt_manifest_bad", error=str(error))

    @property
    def customer(self) -> Mapping[tuple[str, str], CustomerPrompt]:
        """The customer's prompts whose file exists, ``{(language, id): entry}``."""
        self._fresh()
        return dict(self._customer)

    def has(self, prompt_id: str, language: str) -> bool:
        """True if ``prompt_id`` can be played in ``language``."""
        self._fresh()
        key = (language, prompt_id)
        return key in self._customer or key in self._defaults

    def resolve(self, prompt_id: str, language: str) -> str:
        """What FreeSWITCH plays for ``prompt_id`` in ``language``: the customer file's
        absolute path (``/var/lib/acd/prompts/sv/welcome.wav``) if there is one, else the
        shipped prompt as ``phrase:acd_prompt:<id>`` (its file below the sound-prefix of
        the channel's language, which the dialplan sets to the caller's). Raises
        :class:`PromptMissingError` when neither exists."""
        return self.playable(prompt_id, language).playback_path()

    def playable(self, prompt_id: str, language: str) -> Playable:
        """:meth:`resolve` as a :class:`freeswitch.media.Playable` for the command builders."""
        self._fresh()
        own = self._customer.get((language, prompt_id))
        if own is not None:
            return SoundFile(own.path)
        if (language, prompt_id) in self._defaults:
            return Phrase(PROMPT_MACRO, prompt_id)
        raise PromptMissingError(f"no prompt {prompt_id!r} in language {language!r}")

    def missing(self, prompt_ids: Iterable[str], languages: Sequence[str]) -> list[tuple[str, str]]:
        """``(prompt id, language)`` for each of ``prompt_ids`` (once each, in order) that
        is missing in one of ``languages``."""
        seen: dict[str, None] = dict.fromkeys(prompt_ids)
        return [
            (prompt_id, language)
            for prompt_id in seen
            for language in languages
            if not self.has(prompt_id, language)
        ]


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold ``directory/.lock`` (an exclusive ``flock``) while writing prompts: one
    writer at a time between the CLI and the engine. Raises :class:`PromptError` when
    the directory cannot be created or locked."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle = open(directory / ".lock", "a+b")  # noqa: SIM115 - closed below
    except OSError as error:
        raise PromptError(f"{directory}: {error.strerror or error}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # releases the lock


def write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file in the same directory and a
    rename. Raises :class:`PromptError`; on failure ``target`` is unchanged."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as error:
        raise PromptError(f"{target.parent}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(name, 0o644)  # FreeSWITCH often runs as another user: it must read it
        os.replace(name, target)
    except OSError as error:
        raise PromptError(f"{target}: {error.strerror or error}") from None
    finally:
        if os.path.exists(name):
            os.unlink(name)


@dataclass(frozen=True, slots=True)
class NewPrompt:
    """A converted prompt ready to be stored: ``wav`` is the whole file (bytes)."""

    prompt_id: str
    language: str
    wav: bytes
    seconds: float
    source: str
    source_sha256: str


def store(directory: Path, prompts: Sequence[NewPrompt], now: dt.datetime) -> list[Path]:
    """Write every prompt of ``prompts`` to ``directory/<language>/<id>.wav`` and record
    them in the customer manifest (``imported_at`` = ``now``, UTC). Returns the paths.

    Under :func:`locked`. The manifest is written last, after every WAV: a failure part
    way leaves the manifest as it was (a replaced WAV of an id already listed plays at
    once, which is what the import asked for). Raises :class:`PromptError`."""
    import tomli_w  # noqa: PLC0415 - needed only by writers

    for prompt in prompts:
        check_language(prompt.language)
        check_prompt_id(prompt.prompt_id)
    with locked(directory):
        data: dict[str, dict[str, dict[str, object]]] = {}
        for (language, prompt_id), entry in read_manifest(directory).items():
            data.setdefault(language, {})[prompt_id] = _entry_table(entry)
        written: list[Path] = []
        for prompt in prompts:
            relative = f"{prompt.language}/{prompt.prompt_id}.wav"
            target = directory / relative
            write_atomically(target, prompt.wav)
            written.append(target)
            data.setdefault(prompt.language, {})[prompt.prompt_id] = {
                "file": relative,
                "source": prompt.source,
                "source_sha256": prompt.source_sha256,
                "sha256": hashlib.sha256(prompt.wav).hexdigest(),
                "seconds": round(prompt.seconds, 3),
                "imported_at": now.astimezone(dt.UTC).replace(microsecond=0),
            }
        header = (
            "# The customer's prompts: written by `acd prompts import` and the recording\n"
            "# feature code. Each overrides the shipped prompt of the same id and language.\n\n"
        )
        write_atomically(directory / MANIFEST_NAME, (header + tomli_w.dumps(data)).encode())
    return written


def _entry_table(entry: CustomerPrompt) -> dict[str, object]:
    return {
        "file": f"{entry.language}/{entry.prompt_id}.wav",
        "source": entry.source,
        "source_sha256": entry.source_sha256,
        "sha256": entry.sha256,
        "seconds": entry.seconds,
        "imported_at": entry.imported_at,
    }


def missing_lines(config: Config) -> list[str]:
    """``check-config``'s lines about prompts: one per prompt id the configuration names
    (any :data:`acd.config.types.PromptId` field) that is missing in one of its
    ``languages``, with where it is named; or one line saying why the customer's prompt
    directory could not be read. Empty when every prompt is there."""
    # Codes of prompts.record_codes name what may be recorded, not what is played.
    refs = [(loc, ref) for loc, ref in prompt_refs(config) if loc[:1] != ("prompts",)]
    if not refs:
        return []
    try:
        catalogue = PromptCatalogue(config.prompts.directory)
    except PromptError as error:
        return [f"prompts: cannot read the prompt directory: {error}"]
    places: dict[str, list[str]] = {}
    for loc, prompt_id in refs:
        places.setdefault(prompt_id, []).append(format_path(loc))
    lines = []
    for prompt_id, language in catalogue.missing(places, config.languages):
        where = ", ".join(places[prompt_id][:3]) + (" ..." if len(places[prompt_id]) > 3 else "")
        lines.append(f"missing prompt {prompt_id!r} in {language} (named at {where})")
    return lines


RECORDINGS_DIR = ".recordings"
"""Folder of the prompt directory where FreeSWITCH's ``record`` writes phone takes."""


def ensure_recordings_dir(directory: str | Path) -> bool:
    """Make ``<directory>/.recordings`` (and ``directory``) if missing: FreeSWITCH's
    ``record`` does not create folders, and hangs the call up
    (``DESTINATION_OUT_OF_ORDER``) when it cannot open its file. Returns False (logged)
    when it cannot be made."""
    path = Path(directory) / RECORDINGS_DIR
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _log.warning("acd.recordings_dir_failed", path=str(path), error=str(error))
        return False
    return True
