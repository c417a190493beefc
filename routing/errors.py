"""Errors of the routing layer.

Both routers (the reference model and the Redis fast path) raise exactly these for the
same bad call, and leave the state unchanged when they do. The Lua scripts answer
``redis.error_reply("<slug>: <detail>")``; ``routing.store`` maps the slug back to the
class here, so a caller never sees a ``redis`` exception.
"""

from __future__ import annotations

from acd.errors import ACDError


class RoutingError(ACDError):
    """Root of every routing error."""

    slug = "routing-error"


class UnknownAgentError(RoutingError):
    slug = "unknown-agent"


class UnknownContactError(RoutingError):
    slug = "unknown-contact"


class UnknownQueueError(RoutingError):
    slug = "unknown-queue"


class UnknownReservationError(RoutingError):
    """No pending reservation has this id (never made, already confirmed or released)."""

    slug = "unknown-reservation"


class ReservationExpiredError(RoutingError):
    """The reservation's expiry has passed; ``tick`` will release it."""

    slug = "reservation-expired"


class InvalidTransitionError(RoutingError):
    """The call is not allowed in the current state (e.g. unpause of an agent not paused)."""

    slug = "invalid-transition"


class ContactNotWaitingError(InvalidTransitionError):
    """``pick``: the contact is offered (reserved) or in progress, not waiting."""

    slug = "contact-not-waiting"


class AgentUnavailableError(InvalidTransitionError):
    """``pick``: the agent is not ready (logged out, paused or in wrap-up)."""

    slug = "agent-unavailable"


class AgentBusyError(InvalidTransitionError):
    """``pick``: the agent has a pending offer, or no room for the contact's channel class
    (for a call: any contact at all), so it may not be given another (R-TELEPHONIST)."""

    slug = "agent-busy"


class DuplicateContactError(RoutingError):
    """A contact with this id is already known (waiting, reserved or busy)."""

    slug = "duplicate-contact"


class StoreError(RoutingError):
    """Redis failed or answered something the store cannot read."""

    slug = "routing-store"


ERRORS_BY_SLUG: dict[str, type[RoutingError]] = {
    cls.slug: cls
    for cls in (
        UnknownAgentError,
        UnknownContactError,
        UnknownQueueError,
        UnknownReservationError,
        ReservationExpiredError,
        InvalidTransitionError,
        ContactNotWaitingError,
        AgentUnavailableError,
        AgentBusyError,
        DuplicateContactError,
    )
}
