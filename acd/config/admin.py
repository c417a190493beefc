"""``admin:``: the administrator's PIN, the one secret the admin feature codes ask for.

Both phone feature codes an administrator uses take this PIN: ``*25`` records a prompt
(R-PROMPTS, ``prompts.record_codes``) and ``*26``/``*27`` switch the emergency message on
and off (R-TIMEDMSG). Give ``pin`` (4-8 digits, as agents' PINs are keyed) or
``pin_sha256`` (the SHA-256 hex of the digits, :func:`acd.engine.policy.hash_pin`);
neither turns both feature codes off (the admin API, with an admin token, still works).
Like an agent's, a hashed PIN only keeps the digits out of sight over a shoulder: keep
the file readable by the engine only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, model_validator

from acd.config.problems import CrossCheckError, Loc
from acd.config.types import Frozen, PinSha256, TextDigits, digits_check
from acd.engine.policy import hash_pin

if TYPE_CHECKING:
    from acd.config.model import Config

AdminPin = Annotated[str, TextDigits, digits_check(4, 8, "the admin PIN")]


class AdminSettings(Frozen):
    """``admin: {pin}`` or ``admin: {pin_sha256}`` (module doc); at most one of them."""

    pin: AdminPin | None = Field(default=None, repr=False)
    pin_sha256: PinSha256 | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _one_pin(self) -> AdminSettings:
        if self.pin is not None and self.pin_sha256 is not None:
            raise CrossCheckError([(("pin",), "give at most one of pin and pin_sha256")])
        return self

    def pin_digest(self) -> str | None:
        """The admin PIN's SHA-256 (hex), or None when none is configured."""
        return self.pin_sha256 if self.pin is None else hash_pin(self.pin)


def admin_problems(config: Config) -> list[tuple[Loc, str]]:
    """The check spanning sections: recording by phone (``prompts.record_codes``) needs
    a PIN to ask for. (The admin flows collect 4-8 digits whatever ``feature_codes``
    says for agents, as :data:`AdminPin` allows.)"""
    if config.prompts.record_codes and config.admin.pin_digest() is None:
        return [(("prompts", "record_codes"), "need admin.pin or admin.pin_sha256")]
    return []


__all__ = ["AdminPin", "AdminSettings", "admin_problems"]
