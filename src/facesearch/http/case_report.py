"""The case disclosure report as a self-contained HTML page (styles inline, thumbnails as data URIs, no
script), printable, with the stamp repeated on every printed page while any candidate is unconfirmed.

Drawn here, from the report the `case_report` use case returns, because both the API (`format=html`, where
the browser's case page sends its readers) and the command line (`facesearch case report`) serve it."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..app.cases import CaseDisclosure
from ..calibration.wording import fmr_text
from ..services.search_results import clock

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def render_case_html(report: CaseDisclosure, thumbnails: Mapping[int, bytes]) -> str:
    """The page of `report`; `thumbnails` (JPEG bytes by face id) are embedded where a candidate has one."""
    r = report.model_dump(exclude_unset=True)  # the keys each entry has: a refusal's reason, a verify's result
    candidates = [c for s in r["searches"] for c in s["candidates"]]
    candidates += [h for w in r.get("watches") or [] for h in w["hits"]]
    return _env.get_template("case_report.html").render(
        r=r,
        thumbs={fid: "data:image/jpeg;base64," + base64.b64encode(data).decode() for fid, data in thumbnails.items()},
        unconfirmed=any(c["status"] != "confirmed" for c in candidates),
        # Urgent uses without an authorisation recorded for them: flagged at the top as well as where they are.
        urgent=sum("URGENT" in (u.get("authorisation") or "") for u in [*r["searches"], *(r.get("watches") or [])]),
        fmr_text=fmr_text,
        clock=clock,
    )
