"""Generate the default prompt set (sv, en) offline with espeak-ng and sox.

    python -m freeswitch.prompts.generate OUTDIR [--rate 8000] [--rate-dir] [--lang sv] [--no-music]

writes, for every entry of ``manifest.toml``, ``OUTDIR/<lang>/<group>/<id>.wav`` (mono,
16-bit signed PCM at ``--rate`` Hz, silence trimmed so that number words join without
gaps) and hold music ``OUTDIR/music/<rate>/acd-hold-music.wav`` for a ``local_stream``.
OUTDIR is laid out like FreeSWITCH's ``sounds_dir``: a language's sound-prefix is
``OUTDIR/<lang>``. Files are written whole (temporary name, then rename), so a FreeSWITCH
playing from OUTDIR never opens half a file.

:func:`ensure_prompts` keeps one generated set per manifest/generator version in a cache
directory (the test lab uses it); :func:`generate` writes into any directory.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(__file__).resolve().with_name("manifest.toml")
RATES = (8000, 16000)
MUSIC_NAME = "acd-hold-music.wav"
MENU_WAIT_NAME = "menu-wait.wav"
"""The hold-music clip a menu plays while it waits for the first key (R-NOSILENCE):
``<lang>/acd/menu-wait.wav``, next to the language's prompts."""
MENU_WAIT_NOTES = 8
"""The clip is the melody's first notes: :data:`MENU_WAIT_NOTES` x ``_NOTE_SECONDS`` =
2.56 s (``acd.engine.menus.MENU_WAIT_SECONDS`` must agree)."""
# A pleasant arpeggio for the default hold music (note names as sox's synth reads them).
_MELODY = (
    "C4",
    "E4",
    "G4",
    "E4",
    "F4",
    "A4",
    "C5",
    "A4",
    "G4",
    "B4",
    "D5",
    "B4",
    "C5",
    "G4",
    "E4",
    "C4",
)
_NOTE_SECONDS = 0.32
_TOOL_TIMEOUT = 60.0


class PromptError(Exception):
    """The manifest is malformed, a tool is missing, or a tool failed (the message says which)."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """One sound file: ``<lang>/<group>/<name>.wav`` spoken from ``text``."""

    lang: str
    group: str
    name: str
    text: str

    @property
    def relpath(self) -> str:
        return f"{self.lang}/{self.group}/{self.name}.wav"

    def rate_relpath(self, rate: int) -> str:
        """``<lang>/<group>/<rate>/<id>.wav``: where mod_sndfile looks first for a channel
        at that rate, so sets of several rates can live side by side."""
        return f"{self.lang}/{self.group}/{rate}/{self.name}.wav"


@dataclass(frozen=True, slots=True)
class Manifest:
    """The parsed manifest: espeak-ng voice per language and every prompt."""

    voices: dict[str, str]
    prompts: tuple[Prompt, ...]

    def for_languages(self, languages: Iterable[str] | None) -> tuple[Prompt, ...]:
        if languages is None:
            return self.prompts
        wanted = set(languages)
        unknown = wanted - set(self.voices)
        if unknown:
            raise PromptError(
                f"unknown language(s) {sorted(unknown)}; manifest has {sorted(self.voices)}"
            )
        return tuple(p for p in self.prompts if p.lang in wanted)


def _checked_name(path: Path, value: str, what: str) -> str:
    # Names become path components: keep them to what FreeSWITCH file names use.
    if not value or not all(c.isalnum() or c in "-_" for c in value) or not value.isascii():
        raise PromptError(f"{path}: {what} {value!r} must be ASCII letters, digits, '-' or '_'")
    return value


def load_manifest(path: Path = MANIFEST) -> Manifest:
    """Parse ``path`` (TOML: ``[voices]`` lang -> espeak voice, ``[<lang>.<group>]`` id -> text).

    Raises :class:`PromptError` naming the file and the entry that is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PromptError(f"{path}: {exc}") from None
    voices = data.pop("voices", None)
    if not isinstance(voices, dict) or not voices:
        raise PromptError(f"{path}: [voices] must map each language to an espeak-ng voice")
    prompts: list[Prompt] = []
    for lang, groups in data.items():
        if lang not in voices:
            raise PromptError(f"{path}: language {lang!r} has no voice in [voices]")
        if not isinstance(groups, dict):
            raise PromptError(f"{path}: [{lang}] must hold tables of prompts")
        for group, entries in groups.items():
            if not isinstance(entries, dict):
                raise PromptError(f"{path}: [{lang}.{group}] must be a table of id = text")
            for name, text in entries.items():
                if not isinstance(text, str) or not text.strip():
                    raise PromptError(
                        f"{path}: {lang}.{group}.{name}: text must be a non-empty string"
                    )
                prompts.append(
                    Prompt(
                        _checked_name(path, lang, "language"),
                        _checked_name(path, group, f"group of [{lang}]"),
                        _checked_name(path, name, f"[{lang}.{group}] prompt id"),
                        text.strip(),
                    )
                )
    for lang, voice in voices.items():
        if not isinstance(voice, str) or not voice:
            raise PromptError(f"{path}: [voices] {lang} must name an espeak-ng voice")
    return Manifest({str(k): str(v) for k, v in voices.items()}, tuple(prompts))


def missing_tools() -> list[str]:
    """The command-line tools the generator needs that are not on PATH."""
    return [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]


def _run(argv: Sequence[str], stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(  # noqa: S603 - fixed tools, arguments are ours
            list(argv), input=stdin, capture_output=True, timeout=_TOOL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PromptError(f"{argv[0]}: {exc}") from None
    if done.returncode != 0:
        raise PromptError(
            f"{' '.join(argv[:3])} ...: {done.stderr.decode(errors='replace').strip()}"
        )
    return done.stdout


def _sox_format(rate: int) -> list[str]:
    return ["-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer"]


def _speak(prompt: Prompt, voice: str, rate: int, target: Path) -> None:
    wav = _run(["espeak-ng", "-v", voice, "-s", "165", "--stdout", prompt.text])
    # Trim leading and trailing silence (number words are concatenated by mod_say),
    # normalise the level so every file sounds equally loud.
    effects = ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"]
    _write_atomically(
        target,
        lambda tmp: _run(
            ["sox", "-q", "-t", "wav", "-", *_sox_format(rate), str(tmp), *effects, "norm", "-3"],
            wav,
        ),
    )


def _music(rate: int, target: Path, notes_count: int | None = None) -> None:
    """The hold music (twice through the melody), or a clip of its first ``notes_count``
    notes played once."""
    melody = _MELODY if notes_count is None else _MELODY[:notes_count]

    def render(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="acd-moh-") as notes_dir:
            notes = []
            for index, note in enumerate(melody):
                note_path = Path(notes_dir) / f"{index:02d}.wav"
                synth = ["synth", str(_NOTE_SECONDS), "pluck", note]
                shape = ["vol", "0.5", "fade", "0", str(_NOTE_SECONDS), "0.08"]
                _run(["sox", "-q", "-n", *_sox_format(rate), str(note_path), *synth, *shape])
                notes.append(str(note_path))
            # Twice through the melody: a file of ~10 s that local_stream loops.
            played = notes if notes_count is not None else [*notes, *notes]
            _run(["sox", "-q", *played, *_sox_format(rate), str(tmp), "norm", "-6"])

    _write_atomically(target, render)


def _write_atomically(target: Path, render: Callable[[Path], object]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".wav", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        render(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def generate(
    outdir: Path,
    *,
    rate: int = 8000,
    languages: Iterable[str] | None = None,
    music: bool = True,
    rate_dir: bool = False,
    manifest: Path = MANIFEST,
    jobs: int | None = None,
) -> list[Path]:
    """Speak every prompt of ``manifest`` (or only ``languages``) into ``outdir``
    (``rate_dir``: into ``<group>/<rate>/`` folders, see :meth:`Prompt.rate_relpath`).

    Returns the written paths (prompts in manifest order, then the music). Raises
    :class:`PromptError` if espeak-ng or sox is missing or fails, or the manifest is bad;
    files already written stay (each one is complete)."""
    if rate not in RATES:
        raise PromptError(f"rate must be one of {RATES} Hz, not {rate!r}")
    parsed = load_manifest(manifest)
    prompts = parsed.for_languages(languages)
    missing = missing_tools()
    if missing:
        raise PromptError(
            f"not installed: {', '.join(missing)} (Debian: apt-get install espeak-ng sox)"
        )
    targets = [outdir / (p.rate_relpath(rate) if rate_dir else p.relpath) for p in prompts]
    workers = jobs or max(2, os.cpu_count() or 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(_speak, p, parsed.voices[p.lang], rate, target)
            for p, target in zip(prompts, targets, strict=True)
        ]
        if music:
            music_path = outdir / "music" / str(rate) / MUSIC_NAME
            futures.append(pool.submit(_music, rate, music_path))
            targets.append(music_path)
            for lang in sorted({p.lang for p in prompts}):
                folder = outdir / lang / "acd"
                clip = (folder / str(rate) if rate_dir else folder) / MENU_WAIT_NAME
                futures.append(pool.submit(_music, rate, clip, MENU_WAIT_NOTES))
                targets.append(clip)
        for future in futures:
            future.result()  # re-raises the first PromptError
    return targets


def fingerprint(rate: int = 8000, manifest: Path = MANIFEST) -> str:
    """A short hash of what decides the generated files: manifest, this generator, rate."""
    digest = hashlib.sha256()
    digest.update(manifest.read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update(str(rate).encode())
    return digest.hexdigest()[:16]


def ensure_prompts(cache_root: Path, *, rate: int = 8000, manifest: Path = MANIFEST) -> Path:
    """The generated set for the current manifest in ``cache_root/<fingerprint>/``, made
    only if it is not there yet. Concurrent callers are safe: each generates into its own
    temporary directory and the first to finish renames it into place. Sets of older
    versions stay until the cache is removed (``make clean``): a running FreeSWITCH may
    still play from one. Raises :class:`PromptError` as :func:`generate`."""
    version = fingerprint(rate, manifest)
    final = cache_root / version
    if (final / ".complete").is_file():
        return final
    cache_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".generating-", dir=cache_root))
    try:
        generate(work, rate=rate, manifest=manifest)
        (work / ".complete").write_text(version + "\n", encoding="ascii")
        try:
            work.rename(final)
        except OSError:
            if not (final / ".complete").is_file():  # not someone else's finished copy
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return final


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m freeswitch.prompts.generate",
        description="Speak the ACD prompt manifest with espeak-ng into OUTDIR.",
    )
    parser.add_argument(
        "outdir", type=Path, help="a FreeSWITCH sounds directory (or a staging copy of one)"
    )
    parser.add_argument(
        "--rate", type=int, choices=RATES, default=8000, help="sample rate in Hz (default 8000)"
    )
    parser.add_argument(
        "--lang", action="append", help="only this language (repeatable; default: all)"
    )
    parser.add_argument(
        "--no-music", action="store_true", help="do not write music/<rate>/" + MUSIC_NAME
    )
    parser.add_argument(
        "--rate-dir",
        action="store_true",
        help="write <lang>/<group>/<rate>/<id>.wav (sets of several rates side by side)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=MANIFEST,
        help="another manifest (default: the shipped one)",
    )
    args = parser.parse_args(argv)
    try:
        written = generate(
            args.outdir,
            rate=args.rate,
            languages=args.lang,
            music=not args.no_music,
            rate_dir=args.rate_dir,
            manifest=args.manifest,
        )
    except PromptError as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files under {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
