"""What a prompt sounds like to the simulator: which files play and for how long.

Parsing follows FreeSWITCH so the simulator accepts (and refuses) what it does:

- :func:`separate_string` is ``switch_separate_string`` with a space delimiter
  (``separate_string_blank_delim`` + ``cleanup_separated_string`` in switch_utils.c):
  ``'single quotes'`` keep spaces, ``\\s`` is a space, ``\\n``/``\\t``/``\\r`` are
  control characters, a backslash before a quote or backslash protects it.
- ``say`` data is ``<lang>[:<voice>] <TYPE> <METHOD> [<GENDER>] <text>``; numbers expand
  to ``digits/*.wav`` files the way mod_say_en / mod_say_sv do (simplified), so a longer
  number takes longer. In Swedish ``1`` is ``digits/u-1.wav`` ("en") for ``UTRUM`` or any
  gender mod_say_sv does not know, ``digits/n-1.wav`` ("ett") otherwise (recordings).
- Phrase macros come from the project's own ``freeswitch/conf/lang/<lang>/acd.xml``.
- Durations: known prompt lengths measured in the recordings, ``tone_stream`` and
  ``silence_stream`` from their arguments, ``local_stream://`` never ends.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}

# Lengths (seconds) of the prompts heard in the recordings; anything else gets DEFAULT.
RECORDED_DURATIONS: dict[str, float] = {
    "du-ar-nummer.wav": 0.82,
    "i-kon.wav": 0.76,
    "whisper.wav": 1.65,
    "u-1.wav": 0.70,
    "n-1.wav": 0.70,
}
DIGIT_DURATION = 0.9
DEFAULT_DURATION = 1.0
# Gap FreeSWITCH leaves between the files of a phrase (s03: ~120 ms).
PHRASE_GAP = 0.12

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def _cleanup(piece: str) -> str:
    """``cleanup_separated_string`` for a space delimiter."""
    out: list[str] = []
    end = 0
    inside_quotes = False
    i = 0
    while i < len(piece) and piece[i] == " ":
        i += 1
    while i < len(piece):
        ch = piece[i]
        if ch == "\\" and i + 1 < len(piece):
            nxt = piece[i + 1]
            if nxt in "'\"\\" or nxt in _UNESCAPE:
                out.append(_UNESCAPE.get(nxt, nxt))
                end = len(out)
                i += 2
                continue
        if ch == "'":
            inside_quotes = not inside_quotes
        else:
            out.append(ch)
            if ch != " " or inside_quotes:
                end = len(out)
        i += 1
    return "".join(out[:end])


def separate_string(text: str, max_parts: int) -> list[str]:
    """Split an API argument string like ``switch_separate_string(buf, ' ', argv, max)``.

    The last part keeps the unsplit rest, as in FreeSWITCH when ``max_parts`` is reached.
    """
    parts: list[str] = []
    i = 0
    n = len(text)
    while i < n and len(parts) < max_parts:
        while i < n and text[i] == " ":
            i += 1
        if i >= n:
            break
        start = i
        inside_quotes = False
        if len(parts) == max_parts - 1:
            parts.append(text[start:])
            break
        while i < n:
            ch = text[i]
            if ch == "\\":
                i += 2
                continue
            if ch == "'":
                inside_quotes = not inside_quotes
            elif ch == " " and not inside_quotes:
                break
            i += 1
        parts.append(text[start:i])
    return [_cleanup(p) for p in parts]


@dataclass(frozen=True)
class Sound:
    """One PLAYBACK_START..PLAYBACK_STOP: what the events name and how long it lasts.

    ``duration`` None means it never ends by itself (hold music). ``files`` are the
    members of a ``file_string://`` (each announced by CUSTOM filestring::open/close).
    ``error`` means FreeSWITCH could not open it: no PLAYBACK_START at all.
    """

    path: str
    duration: float | None
    file_type: str | None = None
    files: tuple[str, ...] = ()
    error: bool = False


@dataclass(frozen=True)
class PhraseStep:
    kind: str  # "file" | "say"
    data: str


Macros = dict[str, list[tuple[str, list[PhraseStep]]]]


@dataclass
class SoundLibrary:
    """Durations, the sounds the simulator pretends are missing, and phrase macros.

    Macros come from ``freeswitch/conf/lang/<lang>/acd.xml`` unless :meth:`define_macro`
    gave one for that language and name (e.g. to mirror another FreeSWITCH's config).
    """

    durations: dict[str, float] = field(default_factory=lambda: dict(RECORDED_DURATIONS))
    missing: set[str] = field(default_factory=set)
    default_duration: float = DEFAULT_DURATION
    macros: dict[str, Macros] = field(default_factory=dict)

    def define_macro(self, lang: str, name: str, pattern: str, steps: list[PhraseStep]) -> None:
        re.compile(pattern)
        self.macros.setdefault(lang, {}).setdefault(name, []).append((pattern, list(steps)))

    def phrase_steps(self, lang: str, macro: str, data: str) -> list[PhraseStep] | None:
        """Steps of a phrase macro for ``data`` ($1.. substituted), or None if unknown."""
        entries = self.macros.get(lang, {}).get(macro) or load_macros(lang).get(macro, [])
        return expand_macro(entries, data)

    def file_duration(self, path: str) -> float:
        base = path.rsplit("/", 1)[-1]
        if base in self.durations:
            return self.durations[base]
        if path.startswith("digits/") or "/digits/" in path:
            return DIGIT_DURATION
        return self.default_duration

    def resolve(self, path: str, sound_prefix: str | None) -> Sound:
        """The Sound for one ``playback`` argument (not a phrase)."""
        if path.startswith("local_stream://"):
            return Sound(path, None, file_type="local_stream")
        if path.startswith("tone_stream://"):
            return Sound(path, tone_duration(path[len("tone_stream://") :]))
        if path.startswith("silence_stream://"):
            ms = _leading_int(path[len("silence_stream://") :])
            return Sound(path, None if ms <= 0 else ms / 1000.0)
        if path.startswith("file_string://"):
            members = tuple(path[len("file_string://") :].split("!"))
            # FreeSWITCH cannot open a phrase inside file_string ("Unknown file Format").
            if any(m.startswith("phrase:") or m in self.missing for m in members):
                return Sound(path, 0.0, error=True)
            total = sum(self.file_duration(m) for m in members)
            return Sound(path, total, files=members)
        full = path
        if sound_prefix and not path.startswith("/") and "://" not in path:
            full = f"{sound_prefix}/{path}"
        if path in self.missing or full in self.missing:
            return Sound(full, 0.0, error=True)
        return Sound(full, self.file_duration(full))

    def say(self, files: list[str]) -> Sound:
        """A ``say`` result: one file_string of all its files, like mod_say."""
        joined = "!".join(files)
        if any(f in self.missing for f in files):
            return Sound(f"file_string://{joined}", 0.0, error=True)
        return Sound(
            f"file_string://{joined}", sum(self.file_duration(f) for f in files), files=tuple(files)
        )


def _leading_int(text: str) -> int:
    match = re.match(r"-?\d+", text)
    return int(match.group(0)) if match else 0


def tone_duration(spec: str) -> float | None:
    """Length of a teletone script: sum of on+off of each ``%(on,off,freq...)``, times loops."""
    loops = 1
    loop_match = re.search(r"(?:loops|L)=(-?\d+)", spec)
    if loop_match:
        loops = int(loop_match.group(1))
    if loops < 0:
        return None
    total_ms = 0
    for on, off in re.findall(r"%\((\d+),(\d+)", spec):
        total_ms += int(on) + int(off)
    return total_ms * max(loops, 1) / 1000.0


def number_files(lang: str, number: int, gender: str | None) -> list[str]:
    """mod_say_en/sv ``pronounced`` of an integer, simplified to the common files."""
    if number < 0:
        return ["digits/minus.wav", *number_files(lang, -number, gender)]
    if number == 1 and lang == "sv":
        # mod_say_sv: "en" for utrum and any gender it does not know, "ett" otherwise.
        known = {None, "NEUTER", "MASCULINE", "FEMININE"}
        return ["digits/u-1.wav" if gender not in known else "digits/n-1.wav"]
    if number < 20:
        return [f"digits/{number}.wav"]
    if number < 100:
        tens, units = divmod(number, 10)
        rest = number_files(lang, units, gender) if units else []
        return [f"digits/{tens}0.wav", *rest]
    if number < 1000:
        hundreds, rest_n = divmod(number, 100)
        rest = number_files(lang, rest_n, gender) if rest_n else []
        return [f"digits/{hundreds}.wav", "digits/hundred.wav", *rest]
    if number < 1_000_000:
        thousands, rest_n = divmod(number, 1000)
        rest = number_files(lang, rest_n, gender) if rest_n else []
        return [*number_files(lang, thousands, gender), "digits/thousand.wav", *rest]
    millions, rest_n = divmod(number, 1_000_000)
    rest = number_files(lang, rest_n, gender) if rest_n else []
    return [*number_files(lang, millions, gender), "digits/million.wav", *rest]


def say_files(data: str) -> list[str] | None:
    """Files the ``say`` application plays for its data, or None if it cannot say it."""
    parts = data.split()
    if len(parts) < 4:
        return None
    lang = parts[0].split(":", 1)[0].lower()
    method = parts[2].upper()
    gender = parts[3].upper() if len(parts) >= 5 else None
    text = parts[-1]
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    if method == "ITERATED":
        return [f"digits/{d}.wav" for d in digits]
    return number_files(lang, int(digits), gender)


@functools.lru_cache(maxsize=8)
def load_macros(lang: str) -> Macros:
    """Phrase macros of ``conf/lang/<lang>/acd.xml``: name -> [(pattern, steps)]."""
    path = CONF_DIR / "lang" / lang / "acd.xml"
    if not path.is_file():
        return {}
    root = ET.parse(path).getroot()  # noqa: S314 - our own shipped configuration
    macros: dict[str, list[tuple[str, list[PhraseStep]]]] = {}
    for macro in root.iter("macro"):
        name = macro.get("name", "")
        entries: list[tuple[str, list[PhraseStep]]] = []
        for inp in macro.iter("input"):
            steps: list[PhraseStep] = []
            match = inp.find("match")
            for action in match if match is not None else []:
                function = action.get("function", "")
                data = action.get("data", "")
                if function == "play-file":
                    steps.append(PhraseStep("file", data))
                elif function == "say":
                    say = (
                        f"{lang} {action.get('type', 'number').upper()} "
                        f"{action.get('method', 'pronounced').upper()} "
                        f"{action.get('gender', '').upper()} {data}"
                    )
                    steps.append(PhraseStep("say", say))
            entries.append((inp.get("pattern", ""), steps))
        macros[name] = entries
    return macros


def expand_macro(entries: list[tuple[str, list[PhraseStep]]], data: str) -> list[PhraseStep] | None:
    """The first matching input's steps with ``$1``.. substituted; None if none matches."""
    for pattern, steps in entries:
        found = re.search(pattern, data)
        if found is None:
            continue
        groups = (found.group(0), *found.groups())

        def substitute(m: re.Match[str], groups: tuple[str | None, ...] = groups) -> str:
            index = int(m.group(1))
            return (groups[index] or "") if index < len(groups) else ""

        return [PhraseStep(step.kind, re.sub(r"\$(\d)", substitute, step.data)) for step in steps]
    return None
