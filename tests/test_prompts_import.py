"""The customer's own prompts (R-PROMPTS): `acd prompts import` of each format, what it
refuses, the override of a shipped prompt, and check-config's list of missing prompts.

Test audio is made here: a WAV written with numpy + soundfile, then encoded to MP3, FLAC
and OGG/Vorbis by sox (an encoder independent of the decoder under test) and to OGG/Opus by
libsndfile (sox 14.4 has no Opus). A format a tool lacks is skipped with the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import shutil
import subprocess
import tomllib
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from acd.cli import main
from acd.config import parse_config
from acd.config.check import summary
from acd.config.model import Config
from acd.config.types import List, PromptId, prompt_refs
from acd.prompts import RATE, PromptCatalogue, PromptMissingError, missing_lines

SOURCE_RATE = 44_100


def _voice(
    seconds: float = 1.0, level_dbfs: float = -30.0, channels: int = 2, rate: int = SOURCE_RATE
) -> np.ndarray:
    """A vowel-like signal (harmonics of 150 Hz, amplitude-modulated) at ``level_dbfs`` RMS
    between 0.3 s of silence on each side."""
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6))
    tone *= 0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)
    tone *= 10 ** (level_dbfs / 20) / np.sqrt(np.mean(tone**2))
    silence = np.zeros(int(0.3 * rate))
    mono = np.concatenate([silence, tone, silence]).astype(np.float32)
    return np.stack([mono] * channels, axis=1)


def _sox_formats() -> set[str]:
    if shutil.which("sox") is None:
        return set()
    text = subprocess.run(["sox", "-h"], capture_output=True, text=True, check=False).stdout
    line = next((ln for ln in text.splitlines() if ln.startswith("AUDIO FILE FORMATS")), "")
    return set(line.partition(":")[2].split())


def _make(tmp_path: Path, fmt: str, name: str = "welcome") -> Path:
    """The test voice as a file of ``fmt`` (wav, mp3, flac, ogg, opus)."""
    wav = tmp_path / f"src-{name}.wav"
    sf.write(wav, _voice(), SOURCE_RATE, subtype="PCM_16")
    if fmt == "wav":
        target = tmp_path / f"{name}.wav"
        wav.rename(target)
        return target
    if fmt == "opus":
        if "OPUS" not in sf.available_subtypes("OGG"):
            pytest.skip(
                "this libsndfile cannot write Ogg/Opus (python-soundfile >= 0.12 wheels can)"
            )
        target = tmp_path / f"{name}.opus"
        # Opus runs at 48 kHz (or 8/12/16/24): write the voice at 48 kHz directly.
        sf.write(target, _voice(rate=48_000), 48_000, format="OGG", subtype="OPUS")
        return target
    formats = _sox_formats()
    if fmt not in formats:
        pytest.skip(f"sox cannot write {fmt} (Debian: apt-get install sox libsox-fmt-all)")
    target = tmp_path / f"{name}.{fmt}"
    subprocess.run(["sox", str(wav), str(target)], check=True, capture_output=True)
    return target


def _listing(directory: Path) -> dict[str, bytes]:
    if not directory.exists():
        return {}
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def _run(*argv: str) -> int:
    return main(["prompts", *argv])


@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac", "ogg", "opus"])
def test_import_converts_each_format_to_what_freeswitch_plays_R_PROMPTS(
    tmp_path: Path, fmt: str
) -> None:
    source = _make(tmp_path, fmt)
    store = tmp_path / "prompts"
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)

    assert _run("import", str(source), "--lang", "sv", "--directory", str(store)) == 0

    written = store / "sv" / "welcome.wav"
    with wave.open(str(written)) as w:  # the stdlib reader: independent of the converter
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        frames = w.getnframes()
        pcm = np.frombuffer(w.readframes(frames), dtype=np.int16).astype(np.float64) / 32768
    # 1 s of voice; the 0.3 s silences are trimmed to a short pad (codec delay aside).
    assert 0.95 < frames / RATE < 1.3
    rms_db = 20 * np.log10(np.sqrt(np.mean(pcm**2)))
    assert -24.0 < rms_db < -20.0, "levelled to about the shipped set's loudness"
    assert np.max(np.abs(pcm)) <= 10 ** (-1 / 20) + 1e-4, "peaks stay below -1 dBFS"
    manifest = tomllib.loads((store / "manifest.toml").read_text(encoding="utf-8"))
    entry = manifest["sv"]["welcome"]
    assert entry["file"] == "sv/welcome.wav"
    assert entry["source"] == source.name
    assert entry["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert entry["sha256"] == hashlib.sha256(written.read_bytes()).hexdigest()
    assert before <= entry["imported_at"] <= dt.datetime.now(dt.UTC)


def test_import_keeps_earlier_prompts_and_replaces_the_same_id_R_PROMPTS(tmp_path: Path) -> None:
    store = tmp_path / "prompts"
    first = _make(tmp_path, "wav", "night")
    _run("import", str(first), "--lang", "sv", "--directory", str(store))
    again = _make(tmp_path, "flac", "other")
    _run("import", str(again), "--lang", "sv", "--id", "night", "--directory", str(store))
    _run(
        "import", str(_make(tmp_path, "wav", "welcome")), "--lang", "en", "--directory", str(store)
    )

    manifest = tomllib.loads((store / "manifest.toml").read_text(encoding="utf-8"))
    assert manifest["sv"]["night"]["source"] == "other.flac"
    assert set(manifest["sv"]) == {"night"}
    assert set(manifest["en"]) == {"welcome"}


def _bad_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    good = _make(tmp_path, "wav", "good")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n", encoding="utf-8")
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(8000, dtype=np.float32), 8000)
    aiff = tmp_path / "voice.aiff"
    sf.write(aiff, _voice(channels=1), SOURCE_RATE, format="AIFF")
    spaced = tmp_path / "a b.wav"
    shutil.copy(good, spaced)
    return {
        "not audio": ([str(text)], "not an audio file"),
        "empty": ([str(empty)], "empty"),
        "silence only": ([str(silent)], "silence"),
        "other format": ([str(aiff)], "is not accepted"),
        "missing file": ([str(tmp_path / "nope.wav")], "cannot read"),
        "a directory": ([str(tmp_path)], "cannot read"),
        "bad id": ([str(good), "--id", "../etc"], "prompt id"),
        "id from a bad file name": ([str(spaced)], "prompt id"),
        "bad language": ([str(good), "--lang", "Svenska"], "language"),
        "--id with two files": ([str(good), str(good), "--id", "x"], "exactly one file"),
        "one bad among good ones": ([str(good), str(empty)], "empty"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "not audio",
        "empty",
        "silence only",
        "other format",
        "missing file",
        "a directory",
        "bad id",
        "id from a bad file name",
        "bad language",
        "--id with two files",
        "one bad among good ones",
    ],
)
def test_bad_input_is_refused_and_nothing_is_written_R_PROMPTS(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "prompts"
    _run(
        "import", str(_make(tmp_path, "wav", "earlier")), "--lang", "sv", "--directory", str(store)
    )
    before = _listing(store)
    argv, reason = _bad_cases(tmp_path)[case]
    if "--lang" not in argv:
        argv = [*argv, "--lang", "sv"]
    capsys.readouterr()

    assert _run("import", *argv, "--directory", str(store)) == 2

    assert reason in capsys.readouterr().err
    assert _listing(store) == before


def test_language_must_be_one_the_configuration_serves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "acd.yaml"
    config.write_text(
        f"languages: [sv]\nprompts: {{directory: {tmp_path / 'p'}}}\nqueues: {{q: {{code: 1}}}}\n",
        encoding="utf-8",
    )
    source = _make(tmp_path, "wav")
    assert _run("import", str(source), "--lang", "en", "--config", str(config)) == 2
    assert "not one of the configured" in capsys.readouterr().err
    assert _run("import", str(source), "--lang", "sv", "--config", str(config)) == 0
    assert (tmp_path / "p" / "sv" / "welcome.wav").is_file()


def test_a_customer_prompt_overrides_the_shipped_one_of_its_language_R_PROMPTS(
    tmp_path: Path,
) -> None:
    store = tmp_path / "prompts"
    catalogue = PromptCatalogue(store)
    # whisper is shipped in sv and en (freeswitch/prompts/manifest.toml).
    assert catalogue.resolve("whisper", "sv") == "phrase:acd_prompt:whisper"
    with pytest.raises(PromptMissingError):
        catalogue.resolve("not-shipped-greeting", "sv")

    _run(
        "import", str(_make(tmp_path, "mp3", "whisper")), "--lang", "sv", "--directory", str(store)
    )
    # No refresh: the catalogue sees the manifest change (another process imported).
    assert catalogue.resolve("whisper", "sv") == str(store / "sv" / "whisper.wav")
    assert catalogue.resolve("whisper", "en") == "phrase:acd_prompt:whisper"
    (store / "sv" / "whisper.wav").unlink()
    catalogue.refresh()
    assert catalogue.resolve("whisper", "sv") == "phrase:acd_prompt:whisper", "gone file: shipped"


def test_list_shows_the_customer_prompts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "prompts"
    assert _run("list", "--directory", str(store)) == 0
    assert "no prompts of your own" in capsys.readouterr().out
    _run("import", str(_make(tmp_path, "ogg", "night")), "--lang", "sv", "--directory", str(store))
    capsys.readouterr()
    assert _run("list", "--directory", str(store)) == 0
    assert "sv/night: " in capsys.readouterr().out


class _Referring(Config):
    """A configuration with prompt references (the sections of other helpers add their
    own fields typed PromptId; these stand in for them)."""

    welcome: PromptId = "own-greeting"
    messages: List[PromptId] = ()
    night: PromptId | None = None


def test_prompt_refs_finds_every_prompt_id_field_defaults_included() -> None:
    config = _Referring.model_validate(
        {"queues": {"q": {"code": "1"}}, "messages": ["meeting", "whisper"], "night": "night"}
    )
    ours = {"welcome", "messages", "night"}
    found = [(loc, ref) for loc, ref in prompt_refs(config) if loc[0] in ours]
    assert found == [
        (("welcome",), "own-greeting"),
        (("messages", 0), "meeting"),
        (("messages", 1), "whisper"),
        (("night",), "night"),
    ]


def test_check_config_lists_prompts_missing_in_each_language_R_PROMPTS(tmp_path: Path) -> None:
    store = tmp_path / "prompts"
    config = _Referring.model_validate(
        {
            "prompts": {"directory": str(store)},
            "queues": {"q": {"code": "1"}},
            "messages": ["whisper", "kick-off"],
        }
    )
    # own-greeting and kick-off: nowhere (no shipped prompt has these ids); whisper: shipped
    # in both languages. Other sections (calendars, entries, menus) name prompts of their
    # own: only ours are compared.
    ours = ("(named at welcome)", "(named at messages")
    assert [ln for ln in missing_lines(config) if ln.endswith(ours[0]) or ours[1] in ln] == [
        "missing prompt 'own-greeting' in sv (named at welcome)",
        "missing prompt 'own-greeting' in en (named at welcome)",
        "missing prompt 'kick-off' in sv (named at messages[1])",
        "missing prompt 'kick-off' in en (named at messages[1])",
    ]
    source = _make(tmp_path, "wav")
    for language, prompt_id in (("sv", "own-greeting"), ("en", "own-greeting"), ("en", "kick-off")):
        argv = ["import", str(source), "--lang", language, "--id", prompt_id]
        assert _run(*argv, "--directory", str(store)) == 0

    lines = summary(config, "acd.yaml")
    assert [
        ln for ln in lines if "warning" in ln and ("kick-off" in ln or "own-greeting" in ln)
    ] == ["  warning: missing prompt 'kick-off' in sv (named at messages[1])"]


def test_record_codes_are_not_references_of_played_prompts(tmp_path: Path) -> None:
    config = parse_config(
        f"admin: {{pin: '1234'}}\nprompts: {{directory: {tmp_path},"
        " record_codes: {'1': {prompt: recorded-only}}}\nqueues: {q: {code: 1}}\n"
    )
    assert not [line for line in missing_lines(config) if "recorded-only" in line]


def test_wav_bytes_round_trip_through_the_converter_unchanged_in_length() -> None:
    """A file already in the target format keeps its voice length (only silence goes)."""
    from acd.prompt_audio import convert  # noqa: PLC0415

    out = io.BytesIO()
    sf.write(out, _voice(seconds=2.0, channels=1), SOURCE_RATE, format="WAV")
    converted = convert(out.getvalue(), "x.wav")
    assert 2.0 <= converted.seconds <= 2.0 + 2 * 0.05 + 0.01
