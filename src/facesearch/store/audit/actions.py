"""What an entry records: the actions of `vocabulary.Action`, the one list (reports, filters and exports select
on their values, so the store writes and reads exactly those)."""

from __future__ import annotations

from ...vocabulary import ACTIONS as ACTIONS
from ...vocabulary import Action as Action


def action_value(action: Action | str) -> str:
    """The stored name of an action; anything that is not one of `Action` raises ValueError, so no entry is
    written under a name that no report or filter knows."""
    return Action(action).value
