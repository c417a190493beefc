"""What a caller can hear: sound files, streams, tones, phrase macros and ``say``.

Each object renders itself in the exact forms the recordings show FreeSWITCH 1.10.12
accepting (esl-captures/README.md, s03):

* as the path argument of ``uuid_broadcast`` (:meth:`broadcast_arg`): spaces written
  as ``\\s`` because ``uuid_broadcast`` splits its arguments on spaces —
  ``say::sv\\sNUMBER\\sPRONOUNCED\\s3``, ``phrase::acd_position,3``, ``local_stream://moh``;
* as ``sendmsg`` ``execute`` application and argument (:meth:`execute`), which
  FreeSWITCH does not split — ``playback phrase:acd_position:12``;
* playable ones also as a file argument of ``play_and_get_digits`` (:meth:`file_arg`).

``phrase:<macro>:<data>`` works as a ``playback`` argument but not inside
``file_string://`` (README), so no ``file_string`` form is offered.

Every text field must be UTF-8 (no ``surrogateescape`` surrogates) and is checked
against a narrow pattern, so nothing in it can change what FreeSWITCH does:
``uuid_broadcast`` takes ``<app>::`` only where the *first* ``:`` is doubled and reads
``!`` in that app name as "hang up afterwards" (``switch_ivr_broadcast``), ``playback``
reads ``@@<n>`` as a start offset, and ``:_:`` is refused everywhere
(:mod:`freeswitch.arguments`). Fields raise InvalidArgument naming themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from freeswitch.arguments import check_encodable, check_token, refuse_enterprise_delimiter
from freeswitch.errors import InvalidArgument


class Media(Protocol):
    """Anything ``uuid_broadcast`` and ``sendmsg execute`` can play."""

    def broadcast_arg(self) -> str: ...

    def execute(self) -> tuple[str, str]: ...


# A path segment: Unicode word characters, space, '.', '+', '-'. No quotes, backslash,
# '$', braces, ',' or ':' (which would turn "a::b" into an application call).
_SEGMENT_RE = re.compile(r"[\w.+-](?:[\w .+-]*[\w.+-])?\Z")
_MACRO_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_PHRASE_DATA_RE = re.compile(r"[A-Za-z0-9_.:+*#@-]{0,128}\Z")
_LANGUAGE_RE = re.compile(r"[a-z]{2,3}\Z")
_FREE_GENDER_RE = re.compile(r"[A-Z]{1,16}\Z")


class Playable:
    """Base of the media that ``playback`` can play from one path string."""

    __slots__ = ()

    def playback_path(self) -> str:
        raise NotImplementedError

    def broadcast_arg(self) -> str:
        return self.playback_path().replace(" ", "\\s")

    def execute(self) -> tuple[str, str]:
        return ("playback", self.playback_path())

    def file_arg(self) -> str:
        """The path as one space-separated argument (``play_and_get_digits``)."""
        return self.playback_path().replace(" ", "\\s")

    def __str__(self) -> str:
        return self.playback_path()


@dataclass(frozen=True, slots=True)
class SoundFile(Playable):
    """A sound file: absolute, or relative to the channel's ``sound_prefix``."""

    path: str

    def __post_init__(self) -> None:
        path = self.path
        if isinstance(path, str):
            check_encodable(path, "sound file path")
        if not isinstance(path, str) or not path or len(path) > 1024:
            raise InvalidArgument(f"sound file: bad path {path!r}")
        body = path[1:] if path.startswith("/") else path
        for segment in body.split("/"):
            if segment in (".", "..") or not _SEGMENT_RE.match(segment):
                raise InvalidArgument(f"sound file: unsafe path segment {segment!r} in {path!r}")

    def playback_path(self) -> str:
        return self.path


@dataclass(frozen=True, slots=True)
class LocalStream(Playable):
    """Music on hold from mod_local_stream, e.g. ``local_stream://moh``."""

    name: str = "moh"

    def __post_init__(self) -> None:
        check_token(self.name, "local stream name")

    def playback_path(self) -> str:
        return f"local_stream://{self.name}"


@dataclass(frozen=True, slots=True)
class Silence(Playable):
    """``silence_stream://<ms>`` (``-1`` plays silence until interrupted)."""

    milliseconds: int

    def __post_init__(self) -> None:
        ms = self.milliseconds
        if not isinstance(ms, int) or isinstance(ms, bool) or not (ms == -1 or 0 < ms <= 3_600_000):
            raise InvalidArgument(f"silence: milliseconds must be -1 or 1..3600000: {ms!r}")

    def playback_path(self) -> str:
        return f"silence_stream://{self.milliseconds}"


@dataclass(frozen=True, slots=True)
class Tone:
    """One ``%(on,off,freq[,freq...])`` segment of a tone stream (TGML)."""

    on_ms: int
    off_ms: int
    frequencies: tuple[int, ...]

    def __post_init__(self) -> None:
        for name, value, high in (("on_ms", self.on_ms, 60_000), ("off_ms", self.off_ms, 60_000)):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
                raise InvalidArgument(f"tone: {name} must be 0..{high}: {value!r}")
        freqs = self.frequencies
        if not isinstance(freqs, tuple) or not 1 <= len(freqs) <= 4:
            raise InvalidArgument(f"tone: one to four frequencies needed: {freqs!r}")
        for f in freqs:
            if not isinstance(f, int) or isinstance(f, bool) or not 0 <= f <= 20_000:
                raise InvalidArgument(f"tone: frequency must be 0..20000 Hz: {f!r}")

    def render(self) -> str:
        return "%(" + ",".join(str(v) for v in (self.on_ms, self.off_ms, *self.frequencies)) + ")"


_TONE_SEGMENT = r"%\((\d{1,5}),(\d{1,5}),(\d{1,5}(?:,\d{1,5}){0,3})\)"
_TONE_STREAM_RE = re.compile(
    rf"tone_stream://(?P<tones>{_TONE_SEGMENT}(?:;{_TONE_SEGMENT})*)"
    r"(?:;loops=(?P<loops>-1|\d{1,4}))?\Z"
)
_TONE_SEGMENT_RE = re.compile(_TONE_SEGMENT)


@dataclass(frozen=True, slots=True)
class ToneStream(Playable):
    """``tone_stream://%(2000,4000,440,480);loops=-1`` built from typed segments only."""

    tones: tuple[Tone, ...]
    loops: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.tones, tuple) or not 1 <= len(self.tones) <= 16:
            raise InvalidArgument("tone stream: one to sixteen tones needed")
        if not all(isinstance(t, Tone) for t in self.tones):
            raise InvalidArgument("tone stream: tones must be Tone objects")
        loops = self.loops
        if loops is not None and (
            not isinstance(loops, int)
            or isinstance(loops, bool)
            or not (loops == -1 or 1 <= loops <= 1000)
        ):
            raise InvalidArgument(f"tone stream: loops must be -1 or 1..1000: {loops!r}")

    @classmethod
    def parse(cls, text: str) -> ToneStream:
        """Accept a configured ``tone_stream://`` string only in the whitelisted form."""
        if isinstance(text, str):
            check_encodable(text, "tone stream")
        match = _TONE_STREAM_RE.match(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidArgument(
                f"tone stream: not of the form tone_stream://%(on,off,hz...): {text!r}"
            )
        tones = tuple(
            Tone(int(on), int(off), tuple(int(f) for f in freqs.split(",")))
            for on, off, freqs in _TONE_SEGMENT_RE.findall(match.group("tones"))
        )
        loops = match.group("loops")
        return cls(tones, int(loops) if loops is not None else None)

    def playback_path(self) -> str:
        body = ";".join(t.render() for t in self.tones)
        if self.loops is not None:
            body += f";loops={self.loops}"
        return "tone_stream://" + body


RINGBACK = ToneStream((Tone(2000, 4000, (440, 480)),), loops=-1)
"""The ringback the README names for callers parked unanswered."""


@dataclass(frozen=True, slots=True)
class Phrase(Playable):
    """A phrase macro from FreeSWITCH's ``languages`` configuration.

    ``uuid_broadcast`` runs the ``phrase`` application (``phrase::<macro>,<data>``),
    ``sendmsg``/``play_and_get_digits`` play ``phrase:<macro>:<data>`` — both recorded.
    """

    macro: str
    data: str = ""

    def __post_init__(self) -> None:
        for what, text in (("phrase macro", self.macro), ("phrase data", self.data)):
            if isinstance(text, str):
                check_encodable(text, what)
        if not isinstance(self.macro, str) or not _MACRO_RE.match(self.macro):
            raise InvalidArgument(f"phrase: macro name must match [A-Za-z0-9_-]+: {self.macro!r}")
        if not isinstance(self.data, str) or not _PHRASE_DATA_RE.match(self.data):
            raise InvalidArgument(f"phrase: data must match [A-Za-z0-9_.:+*#@-]*: {self.data!r}")
        if "@@" in self.data:
            # playback cuts "phrase:<macro>:<data>" at "@@" and reads the rest as an offset.
            raise InvalidArgument(f"phrase data: '@@' is not allowed: {self.data!r}")
        # Also where macro and data meet: ``phrase:_:0`` holds ":_:" though neither does.
        refuse_enterprise_delimiter(self.playback_path(), "phrase")

    def playback_path(self) -> str:
        return f"phrase:{self.macro}:{self.data}" if self.data else f"phrase:{self.macro}"

    def broadcast_arg(self) -> str:
        return f"phrase::{self.macro},{self.data}" if self.data else f"phrase::{self.macro}"


class SayType(StrEnum):
    """``say`` types (``switch_ivr_get_say_type_by_name``) that the builder supports."""

    NUMBER = "NUMBER"
    ITEMS = "ITEMS"
    PERSONS = "PERSONS"
    MESSAGES = "MESSAGES"
    CURRENCY = "CURRENCY"
    TIME_MEASUREMENT = "TIME_MEASUREMENT"
    CURRENT_DATE = "CURRENT_DATE"
    CURRENT_TIME = "CURRENT_TIME"
    CURRENT_DATE_TIME = "CURRENT_DATE_TIME"
    SHORT_DATE_TIME = "SHORT_DATE_TIME"
    TELEPHONE_NUMBER = "TELEPHONE_NUMBER"
    TELEPHONE_EXTENSION = "TELEPHONE_EXTENSION"
    ACCOUNT_NUMBER = "ACCOUNT_NUMBER"
    IP_ADDRESS = "IP_ADDRESS"
    EMAIL_ADDRESS = "EMAIL_ADDRESS"
    NAME_SPELLED = "NAME_SPELLED"
    NAME_PHONETIC = "NAME_PHONETIC"


class SayMethod(StrEnum):
    PRONOUNCED = "PRONOUNCED"
    ITERATED = "ITERATED"
    COUNTED = "COUNTED"
    PRONOUNCED_YEAR = "PRONOUNCED_YEAR"


class SayGender(StrEnum):
    """The genders FreeSWITCH names. mod_say_sv picks "en" (utrum) for any token it does
    not recognise, e.g. ``UTRUM`` (README), so :class:`Say` also takes such a token."""

    MASCULINE = "MASCULINE"
    FEMININE = "FEMININE"
    NEUTER = "NEUTER"


UTRUM = "UTRUM"
"""The free gender token that makes mod_say_sv say "en" (R-NUMBERS: "EN handläggare")."""

_DIGITS = re.compile(r"[0-9]{1,15}\Z")
_EPOCH = re.compile(r"[0-9]{1,12}\Z")
_SAY_TEXT: dict[SayType, re.Pattern[str]] = {
    SayType.NUMBER: _DIGITS,
    SayType.ITEMS: _DIGITS,
    SayType.PERSONS: _DIGITS,
    SayType.MESSAGES: _DIGITS,
    SayType.CURRENCY: re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,2})?\Z"),
    SayType.TIME_MEASUREMENT: re.compile(r"(?:[0-9]{1,9}|[0-9]{1,4}:[0-9]{1,2}(?::[0-9]{1,2})?)\Z"),
    SayType.CURRENT_DATE: _EPOCH,
    SayType.CURRENT_TIME: _EPOCH,
    SayType.CURRENT_DATE_TIME: _EPOCH,
    SayType.SHORT_DATE_TIME: _EPOCH,
    SayType.TELEPHONE_NUMBER: re.compile(r"\+?[0-9*#]{1,32}\Z"),
    SayType.TELEPHONE_EXTENSION: re.compile(r"[0-9*#]{1,32}\Z"),
    SayType.ACCOUNT_NUMBER: re.compile(r"[0-9A-Za-z]{1,32}\Z"),
    SayType.IP_ADDRESS: re.compile(r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}\Z"),
    SayType.EMAIL_ADDRESS: re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\Z"),
    SayType.NAME_SPELLED: re.compile(r"[A-Za-z]{1,64}\Z"),
    SayType.NAME_PHONETIC: re.compile(r"[A-Za-z]{1,64}\Z"),
}


@dataclass(frozen=True, slots=True)
class Say:
    """The ``say`` application: ``<module>[:<lang>] <TYPE> <METHOD> [<GENDER>] <text>``.

    ``text`` is checked per type (digits only for NUMBER and the counts), so nothing
    but the intended token reaches the command line.
    """

    language: str
    type: SayType
    method: SayMethod
    text: str
    gender: SayGender | str | None = None
    module: str | None = None

    def __post_init__(self) -> None:
        texts = (
            ("say language", self.language),
            ("say module", self.module),
            ("say gender", self.gender),
            ("say text", self.text),
        )
        for what, text in texts:
            if isinstance(text, str):
                check_encodable(text, what)
        if not isinstance(self.language, str) or not _LANGUAGE_RE.match(self.language):
            raise InvalidArgument(f"say: language must be 2-3 lowercase letters: {self.language!r}")
        if self.module is not None and (
            not isinstance(self.module, str) or not _LANGUAGE_RE.match(self.module)
        ):
            raise InvalidArgument(f"say: module must be 2-3 lowercase letters: {self.module!r}")
        if not isinstance(self.type, SayType):
            raise InvalidArgument(f"say: type must be a SayType: {self.type!r}")
        if not isinstance(self.method, SayMethod):
            raise InvalidArgument(f"say: method must be a SayMethod: {self.method!r}")
        gender = self.gender
        if (
            gender is not None
            and not isinstance(gender, SayGender)
            and (not isinstance(gender, str) or not _FREE_GENDER_RE.match(gender))
        ):
            raise InvalidArgument(f"say: gender must be a SayGender or an A-Z token: {gender!r}")
        pattern = _SAY_TEXT[self.type]
        if not isinstance(self.text, str) or not pattern.match(self.text):
            raise InvalidArgument(f"say: text {self.text!r} is not valid for {self.type.value}")

    @classmethod
    def number(
        cls,
        language: str,
        value: int,
        *,
        method: SayMethod = SayMethod.PRONOUNCED,
        gender: SayGender | str | None = None,
    ) -> Say:
        """A non-negative integer, e.g. the caller's position (R-POS, R-NUMBERS)."""
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidArgument(f"say: number must be a non-negative int: {value!r}")
        return cls(language, SayType.NUMBER, method, str(value), gender)

    def words(self) -> tuple[str, ...]:
        module = self.language if self.module is None else f"{self.module}:{self.language}"
        parts = [module, self.type.value, self.method.value]
        if self.gender is not None:
            parts.append(str(self.gender))
        parts.append(self.text)
        return tuple(parts)

    def broadcast_arg(self) -> str:
        return "say::" + "\\s".join(self.words())

    def execute(self) -> tuple[str, str]:
        return ("say", " ".join(self.words()))


def parse_playable(text: str) -> Playable:
    """A configured prompt string: ``local_stream://``, ``silence_stream://``,
    ``tone_stream://`` (whitelisted form), ``phrase:<macro>[:<data>]`` or a file path."""
    if not isinstance(text, str):
        raise InvalidArgument(f"media: must be text: {text!r}")
    check_encodable(text, "media")
    if text.startswith("local_stream://"):
        return LocalStream(text.removeprefix("local_stream://"))
    if text.startswith("silence_stream://"):
        ms = text.removeprefix("silence_stream://")
        if not re.fullmatch(r"-1|[0-9]{1,7}", ms):
            raise InvalidArgument(f"media: bad silence stream {text!r}")
        return Silence(int(ms))
    if text.startswith("tone_stream://"):
        return ToneStream.parse(text)
    if text.startswith("phrase:"):
        macro, _, data = text.removeprefix("phrase:").partition(":")
        return Phrase(macro, data)
    if "://" in text or ":" in text:
        raise InvalidArgument(f"media: unsupported scheme in {text!r}")
    return SoundFile(text)
