"""The default prompt set: the manifest covers what the shipped macros and mod_say play,
bad manifests are refused, and the generator writes the format FreeSWITCH plays."""

from __future__ import annotations

import re
import wave
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from acd.engine.announcements import PHRASE_MACROS
from freeswitch.prompts.generate import (
    MUSIC_NAME,
    PromptError,
    ensure_prompts,
    generate,
    load_manifest,
    missing_tools,
)

CONF = Path(__file__).resolve().parent.parent / "freeswitch" / "conf"


def _manifest_files(lang: str) -> set[str]:
    return {p.relpath.removesuffix(".wav") for p in load_manifest().prompts if p.lang == lang}


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_file_the_shipped_macros_play_is_in_the_manifest(lang: str) -> None:
    root = ET.parse(CONF / "lang" / lang / "acd.xml").getroot()
    played = {
        f"{lang}/{action.get('data', '').removesuffix('.wav')}"
        for action in root.iter("action")
        if action.get("function") == "play-file" and "$" not in action.get("data", "")
    }
    assert played, "the macros play files"
    assert played - _manifest_files(lang) == set()


def test_the_brief_s_macros_exist_in_both_languages() -> None:
    names = {*PHRASE_MACROS, "acd_goodbye"}
    for lang in ("sv", "en"):
        root = ET.parse(CONF / "lang" / lang / "acd.xml").getroot()
        assert names - {m.get("name") for m in root.iter("macro")} == set(), lang


def test_manifest_has_the_number_words_mod_say_plays_R_NUMBERS() -> None:
    """The files mod_say_sv / mod_say_en (FreeSWITCH 1.10) open for cardinals and
    ordinals up to the millions, read from their play_group()."""
    tens = [f"{t}0" for t in range(2, 10)]
    teens = [str(n) for n in range(20)]
    sv = {
        *teens,
        *tens,
        "n-1",
        "u-1",
        "hundra",
        "tusen",
        "miljon",
        "miljoner",
        *(f"r-{n}" for n in range(1, 20)),
        *(f"r-{t}" for t in tens),
        "r-100",
    }
    en = {
        *teens,
        *tens,
        "hundred",
        "thousand",
        "million",
        *(f"h-{n}" for n in range(1, 20)),
        *(f"h-{t}" for t in tens),
    }
    assert {f"sv/digits/{n}" for n in sv} - _manifest_files("sv") == set()
    assert {f"en/digits/{n}" for n in en} - _manifest_files("en") == set()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[voices]\nsv = "sv"\n[sv.acd]\n"a/b" = "x"\n', "[sv.acd] prompt id 'a/b'"),
        ('[voices]\nsv = "sv"\n[sv.acd]\nok = ""\n', "sv.acd.ok: text must be"),
        ('[voices]\nsv = "sv"\n[en.acd]\nok = "hi"\n', "language 'en' has no voice"),
        ("[sv.acd]\nok = 'hi'\n", "[voices]"),
        ("not toml =", "manifest.toml"),
    ],
)
def test_a_bad_manifest_is_refused_naming_file_and_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(text, encoding="utf-8")
    with pytest.raises(PromptError, match=re.escape(message)) as caught:
        load_manifest(manifest)
    assert str(manifest) in str(caught.value)


def test_unknown_language_and_rate_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="unknown language"):
        generate(tmp_path, languages=["fi"])
    with pytest.raises(PromptError, match="rate must be one of"):
        generate(tmp_path, rate=44100)
    assert list(tmp_path.iterdir()) == []


needs_tools = pytest.mark.skipif(
    bool(missing_tools()), reason="espeak-ng and sox are not installed"
)


@needs_tools
@pytest.mark.parametrize("rate", [8000, 16000])
def test_generated_files_are_mono_16_bit_at_the_rate(tmp_path: Path, rate: int) -> None:
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        '[voices]\nsv = "sv"\n[sv.acd]\nhej = "Hej"\n[sv.digits]\n3 = "tre"\n', encoding="utf-8"
    )
    out = tmp_path / "sounds"
    written = generate(out, rate=rate, manifest=manifest)
    assert sorted(p.relative_to(out).as_posix() for p in written) == sorted(
        ["sv/acd/hej.wav", "sv/digits/3.wav", f"music/{rate}/{MUSIC_NAME}", "sv/acd/menu-wait.wav"]
    )
    for path in written:
        with wave.open(str(path)) as audio:
            assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (
                1,
                2,
                rate,
            )
            assert audio.getnframes() > rate // 10  # at least 0.1 s of sound


@needs_tools
def test_ensure_prompts_generates_once_per_version(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.toml"
    manifest.write_text('[voices]\nen = "en-us"\n[en.acd]\nhi = "Hi"\n', encoding="utf-8")
    first = ensure_prompts(tmp_path / "cache", manifest=manifest)
    stamp = (first / "en" / "acd" / "hi.wav").stat().st_mtime_ns
    assert ensure_prompts(tmp_path / "cache", manifest=manifest) == first
    assert (first / "en" / "acd" / "hi.wav").stat().st_mtime_ns == stamp
    manifest.write_text('[voices]\nen = "en-us"\n[en.acd]\nhi = "Hello"\n', encoding="utf-8")
    assert ensure_prompts(tmp_path / "cache", manifest=manifest) != first
