"""What a format says about a source (a verdict) and what dispatch chose (a decision)."""

from __future__ import annotations

import enum

import attrs


class Status(enum.StrEnum):
    """A verdict's status; str-valued, so `status == "accepted"` and JSON keep working."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    CRASHED = "crashed"


@attrs.frozen
class Verdict:
    """One format's answer on one source."""

    format: str
    plugin: str
    distribution: str | None
    status: Status = attrs.field(converter=Status)
    reason: str


@attrs.frozen
class Decision:
    """The format chosen for a source, and why."""

    format: str
    plugin: str
    distribution: str | None
    reason: str
    verdicts: tuple[Verdict, ...] = ()
