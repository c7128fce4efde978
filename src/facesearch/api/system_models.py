"""Response models of the JSON API: health and who is asking (`Me`: app/system.py's result).

Field names are the API's contract; see the `api` package for the rules all response models follow."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..app.system import Me

__all__ = ["Health", "Me"]


# System -----------------------------------------------------------------------------------------
class Health(BaseModel):
    status: str = Field(description="Always `ok`.")
    version: str
