"""Response models of the JSON API: health and who is asking.

Field names are the API's contract; see the `api` package for the rules all response models follow."""

from __future__ import annotations

from pydantic import BaseModel, Field


# System -----------------------------------------------------------------------------------------
class Health(BaseModel):
    status: str = Field(description="Always `ok`.")
    version: str


class Me(BaseModel):
    name: str
    role: str
    via: str = Field(description="How the caller signed in: `session` or `token`.")
