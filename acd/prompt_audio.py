"""Audio conversion for the customer's prompts (R-PROMPTS): any WAV, MP3, OGG (Vorbis or
Opus) or FLAC file -> what FreeSWITCH plays (mono 16-bit PCM WAV at
:data:`acd.prompts.RATE` Hz), at the loudness of the shipped set.

Decoding is python-soundfile (libsndfile; its wheels bundle a libsndfile that reads MP3
and Opus, which Debian's sox 14.4 cannot), resampling python-soxr (the SoX resampler).
The level: leading and trailing silence trimmed, then a gain that brings the RMS of what
remains to :data:`TARGET_RMS_DBFS` (about that of the espeak-ng set, ``norm -3``), never
pushing a peak above :data:`PEAK_CEILING_DBFS`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import structlog

from acd.engine.effects import StorePrompt
from acd.prompts import RATE, NewPrompt, PromptError, store
from freeswitch.commands import SendMsg

_log = structlog.get_logger("acd.prompts")

FORMATS: dict[str, str] = {
    "WAV": "WAV",
    "WAVEX": "WAV",
    "RF64": "WAV",
    "MP3": "MP3",
    "OGG": "OGG",
    "FLAC": "FLAC",
}
"""libsndfile container -> the name the import accepts it under; others are refused."""

TARGET_RMS_DBFS = -22.0
PEAK_CEILING_DBFS = -1.0
SILENCE_DBFS = -46.0
"""Below this (relative to full scale) a sample counts as silence when trimming."""
PAD_SECONDS = 0.05
"""Silence kept before and after the voice, so the first syllable is not clipped."""
MAX_SECONDS = 600.0
MAX_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Converted:
    """The converted audio: a whole WAV file (bytes) and its length in seconds."""

    wav: bytes
    seconds: float


def _db(value: float) -> float:
    return float(10 ** (value / 20))


def convert(data: bytes, name: str) -> Converted:
    """Decode ``data`` (the bytes of file ``name``, named in errors), mix to mono,
    resample to :data:`RATE` Hz, trim silence, level it, and encode 16-bit PCM WAV.

    Raises :class:`PromptError`: empty, larger than 200 MB, not audio, a format other
    than WAV/MP3/OGG/FLAC, longer than 10 minutes, or nothing but silence."""
    import soundfile as sf  # noqa: PLC0415 - the import command only
    import soxr  # noqa: PLC0415

    if not data:
        raise PromptError(f"{name}: the file is empty")
    if len(data) > MAX_BYTES:
        raise PromptError(f"{name}: larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        with sf.SoundFile(io.BytesIO(data)) as source:
            kind = FORMATS.get(source.format)
            if kind is None:
                raise PromptError(
                    f"{name}: {source.format_info} is not accepted (WAV, MP3, OGG/Opus, FLAC)"
                )
            rate = source.samplerate
            if source.frames > MAX_SECONDS * rate:
                raise PromptError(f"{name}: longer than {MAX_SECONDS / 60:g} minutes")
            samples = source.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        if isinstance(error, PromptError):
            raise
        # LibsndfileError's text names the BytesIO object; its error_string is the reason.
        reason = getattr(error, "error_string", None) or str(error)
        raise PromptError(
            f"{name}: not an audio file in a known format (WAV, MP3, OGG/Opus, FLAC): {reason}"
        ) from None
    if samples.size == 0:
        raise PromptError(f"{name}: holds no audio")
    mono: npt.NDArray[np.float32] = samples.mean(axis=1, dtype=np.float32)
    if rate != RATE:
        mono = soxr.resample(mono, rate, RATE, quality="HQ").astype(np.float32)
    voiced = np.flatnonzero(np.abs(mono) > _db(SILENCE_DBFS))
    if voiced.size == 0:
        raise PromptError(f"{name}: nothing but silence")
    pad = int(PAD_SECONDS * RATE)
    mono = mono[max(0, int(voiced[0]) - pad) : int(voiced[-1]) + 1 + pad]
    rms = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64))))
    peak = float(np.max(np.abs(mono)))
    gain = min(_db(TARGET_RMS_DBFS) / rms, _db(PEAK_CEILING_DBFS) / peak)
    pcm = np.clip(np.round(mono * gain * 32767.0), -32768, 32767).astype(np.int16)
    out = io.BytesIO()
    sf.write(out, pcm, RATE, format="WAV", subtype="PCM_16")
    return Converted(out.getvalue(), pcm.size / RATE)


def read_source(path: Path) -> bytes:
    """The bytes of ``path``; raises :class:`PromptError` (missing, unreadable, a
    directory, larger than 200 MB)."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise PromptError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MB")
        return path.read_bytes()
    except OSError as error:
        raise PromptError(f"{path}: cannot read: {error.strerror or error}") from None


def prepare(path: Path, prompt_id: str, language: str, source: str | None = None) -> NewPrompt:
    """Read and convert ``path`` into a :class:`NewPrompt` (nothing written yet).
    ``source`` names the origin in the manifest (default: the file's name). Raises
    :class:`PromptError`."""
    data = read_source(path)
    converted = convert(data, str(path))
    return NewPrompt(
        prompt_id=prompt_id,
        language=language,
        wav=converted.wav,
        seconds=converted.seconds,
        source=source or path.name,
        source_sha256=hashlib.sha256(data).hexdigest(),
    )


def store_recording(effect: StorePrompt, now: dt.datetime | None = None) -> SendMsg:
    """Carry out a :class:`~acd.engine.effects.StorePrompt`: convert the phone recording,
    store it as the customer's prompt, remove the raw file. Returns the message to send
    next: ``effect.confirm``, or ``effect.failed`` when it could not be stored (logged).
    Never raises for a bad recording."""
    source = Path(effect.source)
    try:
        prompt = prepare(source, effect.prompt_id, effect.language, source="phone")
        store(Path(effect.directory), [prompt], now or dt.datetime.now(dt.UTC))
    except PromptError as error:
        _log.warning(
            "acd.prompt_not_recorded",
            contact=effect.contact,
            prompt=effect.prompt_id,
            error=str(error),
        )
        return effect.failed
    finally:
        source.unlink(missing_ok=True)
    _log.info(
        "acd.prompt_recorded",
        contact=effect.contact,
        prompt=effect.prompt_id,
        language=effect.language,
        seconds=round(prompt.seconds, 1),
    )
    return effect.confirm
