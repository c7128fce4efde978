"""The watch hits page shows where in a video a hit's face is, as the search page does for a candidate."""

from __future__ import annotations

from starlette.requests import Request

from facesearch.app.watches.results import HitImage, HitReview, WatchHit
from facesearch.services.search_results import VideoTime
from facesearch.web.rendering import templates


def _page(*hits: WatchHit) -> str:
    request = Request(
        {"type": "http", "method": "GET", "path": "/watches/hits", "headers": [], "query_string": b"", "root_path": ""}
    )
    reviews = [HitReview(hit=h, lead_id=5, status="lead", thumbnail="t.jpg") for h in hits]
    page = {"request": request, "hits": reviews, "new": 0, "msg": None, "unseen": 0, "principal": None}
    return templates.get_template("watch_hits.html").render({**page, "csrf": None, "nav": [], "path": "/watches/hits"})


def _hit(path: str, video: VideoTime | None) -> WatchHit:
    return WatchHit(
        watch=3,
        case="C-1",
        face_id=9,
        image=HitImage(id=4, path=path, source_url=None),
        score=0.7,
        decision="above threshold",
        fmr=1e-5,
        ingest_job=2,
        at="2026-12-07T10:00:00+00:00",
        video=video,
    )


def test_a_hit_from_a_video_shows_its_time_and_a_photo_none() -> None:
    seen = VideoTime(time=67.5, frame=2025, track=1, start=61.2, end=69.0)
    html = _page(_hit("/d/clip.mp4", seen), _hit("/d/photo.jpg", None))
    assert '/d/clip.mp4<br><span class="video-time">@ 01:07.5 (01:01.2–01:09.0)</span>' in html
    assert "/d/photo.jpg</td>" in html
