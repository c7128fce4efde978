"""Video through the use cases, on the `synthetic` test pack (markers, not faces: plumbing, never accuracy) and
clips encoded here with known times: ingest (rows, times, tracks, metadata, by content not by name), search (one
candidate per track with its time), search with a clip, people (a track is one person, tracks seen together are
two, co-appearance in the same frame), governance (erasure, opt-out of whole tracks, retention, case report),
watches (one hit per track), and bad input reported without stopping the run."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from support.helpers import create_collection
from support.synthetic import write_photo
from support.videos import (
    audio_only,
    marker_clip,
    marker_photo,
    no_frames,
    truncated_copy,
    unknown_codec,
    write_clip,
)
from support.watching import day

from facesearch.app import erasure, optout, people, purposes, retention, searching, watches
from facesearch.app.cases import case_report
from facesearch.app.context import Actor, Context
from facesearch.app.ingest import Item, ingest
from facesearch.config import Settings
from facesearch.errors import ProbeError
from facesearch.index import open_index
from facesearch.services.uploads import Photo
from facesearch.store import videos
from facesearch.store.video_tables import Video, VideoFace, VideoTrack

OPERATOR = Actor("op", "operator")
EXAMINER = Actor("ann", "examiner")
ADMIN = Actor("boss", "admin")
# Identity 1 on the left 0.5-4.0 s and again 7.5-9.5 s (a new track: it left); identity 2 on the right 2.0-7.0 s
# (on screen with the first track of 1 from 2.0 to 3.5 s). Sampled at 2 per second: every 0.5 s.
APPEARANCES = [(1, 0.5, 4.0, 0.02), (2, 2.0, 7.0, 0.5), (1, 7.5, 9.5, 0.02)]
TRACKS = [(0.5, 3.5), (2.0, 6.5), (7.5, 9.0)]  # (start, end) of each track, in order of appearance
METADATA = {"creation_time": "2024-05-01T10:00:00.000000Z", "make": "TestCam", "model": "TC-1"}


def req(**kw: object) -> searching.SearchRequest:
    return searching.SearchRequest(case_ref="CASE-V", purpose="TEST", **kw)  # type: ignore[arg-type]


@pytest.fixture
def world(synthetic_env: Path, tmp_path: Path) -> tuple[Context, Path, dict[str, Path]]:
    folder = tmp_path / "g"
    folder.mkdir()
    # Named .dat: a video is told by its content, never by its name.
    clip = write_clip(
        folder / "evidence.dat",
        marker_clip(10.0, APPEARANCES),
        fmt="mp4",
        metadata=METADATA,
        container_options={"movflags": "use_metadata_tags"},
    )
    together = write_photo(folder / "together.jpg", [1, 2], seed=5, size=(640, 300), marker_px=110)
    alone = write_photo(folder / "alone.jpg", [3], seed=6)
    ctx = Context.open(Settings(workers=1, model="synthetic"))
    create_collection(ctx.store, "cctv", model="synthetic")
    purposes.add_purpose(ctx, ADMIN, "TEST", "tests")
    return ctx, clip, {"together": together, "alone": alone}


def _ingest(ctx: Context, paths: list[Path], **kw: object):  # type: ignore[no-untyped-def]
    return ingest(ctx, OPERATOR, [Item(p) for p in paths], "cctv", **kw)  # type: ignore[arg-type]


def _tracks(ctx: Context) -> list[VideoTrack]:
    with ctx.store.session() as s:
        return list(s.query(VideoTrack).order_by(VideoTrack.image_id, VideoTrack.track))


def test_a_video_is_ingested_with_its_tracks_times_and_metadata(world) -> None:  # type: ignore[no-untyped-def]
    ctx, clip, photos = world
    res = _ingest(ctx, [clip, *photos.values()], video_fps=2)
    counts = res.counts()
    assert (counts["ingested"], counts["videos"], counts["video_tracks"], counts["failed"]) == (3, 1, 3, 0)
    assert counts["faces"] == res.faces == 3 + 9  # the photos' three faces, and three kept per track
    assert counts["video_seconds"] == pytest.approx(9.9, abs=0.2)
    summary = res.summary().model_dump(mode="json")
    assert summary["videos"] == 1 and summary["video_tracks"] == 3
    tracks = _tracks(ctx)
    assert [(t.track, t.start, t.end) for t in tracks] == [(i, s, e) for i, (s, e) in enumerate(TRACKS)]
    assert [t.seen_with for t in tracks] == [[1], [0], []]  # the first track of 1 and the track of 2 met
    assert [(t.start_frame, t.end_frame) for t in tracks] == [(5, 35), (20, 65), (75, 90)]  # 10 frames a second
    state = videos.video_state(ctx.store, ctx.store.list_collections()[0].id, _sha(clip))
    assert state is not None and state.done and state.sampling_fps == 2.0 and state.checkpoint is None
    image_id = state.image_id
    row = ctx.store.image_with_collection(image_id)
    assert row is not None
    img = row[0]
    assert (img.path, img.width, img.height, img.face_count) == (str(clip), 320, 240, 9)
    recording = img.meta["recording"]
    assert {k: recording[k] for k in ("creation_time", "make", "model")} == METADATA
    faces = ctx.store.image_faces(image_id)
    times = videos.face_times(ctx.store, [f.id for f in faces])
    for f in faces:
        t = times[f.id]
        start, end = TRACKS[t.track]
        assert (t.start, t.end) == (start, end) and start <= t.time <= end and t.frame == round(t.time * 10)
        assert f.face_index // 3 == t.track
        assert (ctx.settings.thumbs_dir / f.thumbnail).is_file()
    index = open_index(ctx.settings, img.collection_id, 64)
    assert len(index) == 12
    # The same bytes again (under another name) are a duplicate, as a photo's would be.
    copy = shutil.copyfile(clip, clip.with_name("copy.mp4"))
    again = _ingest(ctx, [Path(copy)])
    assert (again.ingested, again.duplicates, again.faces) == (0, 1, 0)


def test_search_answers_one_candidate_per_track_with_its_time(world) -> None:  # type: ignore[no-untyped-def]
    ctx, clip, photos = world
    _ingest(ctx, [clip, *photos.values()])
    probe = write_photo(clip.parent.parent / "probe.jpg", [2], seed=40, variant=2)
    out = searching.search(ctx, EXAMINER, Photo.from_path(probe), req(top_k=10))
    matches = out.faces[0].matches
    # Identity 2 is in the photo `together` and in the clip's track 1: those two lead, above the threshold.
    assert {(m.image.path, m.video.track if m.video else None) for m in matches[:2]} == {
        (str(photos["together"]), None),
        (str(clip), 1),
    }
    top = next(m for m in matches if m.video is not None)
    assert top.above_threshold and top.rank <= 2
    assert top.video is not None and (top.video.track, top.video.start, top.video.end) == (1, *TRACKS[1])
    assert TRACKS[1][0] <= top.video.time <= TRACKS[1][1]
    keys = [(m.image.id, m.video.track) for m in matches if m.video is not None]
    assert len(keys) == len(set(keys)) == 3  # one candidate per track, three tracks
    assert [m.rank for m in matches] == list(range(1, len(matches) + 1))
    # JSON: `video` next to `image` for a video's match, absent for a photo's.
    dumped = out.model_dump(mode="json")["faces"][0]["matches"]
    from_video = dumped[top.rank - 1]
    assert set(from_video["video"]) == {"time", "frame", "track", "start", "end"}
    assert all(isinstance(from_video["video"][k], float) for k in ("time", "start", "end"))
    assert from_video["image"]["path"] == str(clip)
    assert any("video" not in m for m in dumped)
    # The audit entry keeps each video candidate's time (the case report shows it).
    report = case_report(ctx, EXAMINER, "CASE-V").report
    recorded = report.searches[0].candidates[top.rank - 1].model_dump()
    assert recorded["video"]["track"] == 1 and recorded["video"]["frame"] == top.video.frame


def test_a_clip_is_a_probe_whose_tracks_are_its_faces(world) -> None:  # type: ignore[no-untyped-def]
    ctx, clip, photos = world
    _ingest(ctx, [clip, *photos.values()])
    probe_clip = write_clip(
        clip.parent.parent / "probe.webm",
        marker_clip(4.0, [(3, 0.0, 1.5, 0.05), (2, 1.0, 4.0, 0.5)]),
        codec="libvpx-vp9",
        fmt="webm",
        pix_fmt="yuv420p",
    )
    found = searching.detect(ctx, EXAMINER, Photo.from_path(probe_clip))
    assert [(f.face, f.video.start, f.video.end) for f in found.faces if f.video] == [(0, 0.0, 1.0), (1, 1.0, 3.5)]
    assert found.video is not None and found.video.container == "webm"
    out = searching.search(ctx, EXAMINER, Photo.from_path(probe_clip), req(face=1))
    face = out.faces[0]
    assert face.face == 1 and face.video is not None and face.video.track == 1
    assert face.matches[0].video is not None and face.matches[0].video.track == 1  # identity 2's track
    assert out.probe.video is not None and len(out.probe.video.faces) == 2
    by_upload = searching.search(ctx, EXAMINER, Photo(probe_clip.read_bytes(), "probe.webm"), req())
    assert by_upload.faces[0].face == 0 and by_upload.faces[0].matches[0].image.path == photos["alone"].as_posix()
    assert not list((ctx.settings.home / "tmp").glob("clip-*"))  # the upload's copy is gone
    with pytest.raises(ProbeError, match="in order of appearance"):
        searching.search(ctx, EXAMINER, Photo.from_path(probe_clip), req(face=5))


def test_a_probe_clip_is_looked_at_up_to_the_time_limit(world) -> None:  # type: ignore[no-untyped-def]
    ctx, clip, photos = world
    _ingest(ctx, [photos["alone"]])
    long_clip = write_clip(
        clip.parent.parent / "long.mkv", marker_clip(6.0, [(3, 0.0, 2.0, 0.05), (1, 4.0, 6.0, 0.5)]), fmt="matroska"
    )
    ctx.settings.probe_video_seconds = 3.0
    found = searching.detect(ctx, EXAMINER, Photo.from_path(long_clip))
    assert [f.video.start for f in found.faces if f.video] == [0.0]  # the second person comes after 3 s
    assert found.video is not None and found.video.analysed_seconds == 3.0


def test_people_a_track_is_one_person_and_tracks_seen_together_are_two(world) -> None:  # type: ignore[no-untyped-def]
    ctx, clip, photos = world
    _ingest(ctx, [clip, photos["together"]])
    people.cluster(ctx, OPERATOR, full=True)
    owner = _owners(ctx)
    tracks = _track_faces(ctx)
    for faces in tracks.values():
        assert len({owner[f] for f in faces}) == 1  # a track is one person
    assert owner[tracks[0][0]] == owner[tracks[2][0]]  # identity 1 left and came back: one person
    assert owner[tracks[0][0]] != owner[tracks[1][0]]  # on screen together: two people
    one = owner[tracks[0][0]]
    out = people.together(ctx, EXAMINER, one, case_ref="CASE-V", purpose="TEST")
    (other,) = out.together
    assert other.person == owner[tracks[1][0]] and other.photos == 1 and other.videos == 1
    assert other.moments is not None
    assert [(m.image.path, m.start, m.end, m.track, m.other_track) for m in other.moments] == [
        (str(clip), 2.0, 3.5, 0, 1)
    ]
    from facesearch.cli.output import jsonable

    assert set(jsonable(other)) == {"person", "name", "photos", "images", "videos", "moments"}


def test_the_incremental_pass_places_whole_tracks_apart_from_their_company(world) -> None:  # type: ignore[no-untyped-def]
    ctx, clip, photos = world
    _ingest(ctx, [clip])  # clusters the new faces (the incremental pass) after the ingest
    owner = _owners(ctx)
    tracks = _track_faces(ctx)
    assert all(len({owner[f] for f in faces}) == 1 for faces in tracks.values())
    assert owner[tracks[0][0]] != owner[tracks[1][0]]
    later = write_clip(clip.parent / "later.mp4", marker_clip(3.0, [(2, 0.0, 3.0, 0.3)]))
    _ingest(ctx, [later])
    owner = _owners(ctx)
    new_track = [fs for t, fs in _track_faces(ctx, later).items()][0]
    assert {owner[f] for f in new_track} == {owner[tracks[1][0]]}  # identity 2 again: joins their person


def test_erasure_opt_out_and_retention_reach_video_faces(world) -> None:  # type: ignore[no-untyped-def]
    ctx, clip, photos = world
    _ingest(ctx, [clip, photos["alone"]])
    col = ctx.store.list_collections()[0]
    state = videos.video_state(ctx.store, col.id, _sha(clip))
    assert state is not None
    # Opt-out: identity 2's whole track goes, the video stays with the other tracks.
    person = write_photo(clip.parent.parent / "optout.jpg", [2], seed=77, variant=1)
    done = optout.add_optout(ctx, OPERATOR, [Photo.from_path(person)], "REQ-1")
    assert done.erased.faces == 3 and done.erased.images == 0
    assert [t.track for t in _tracks(ctx)] == [0, 2]
    # A later clip with identity 2 keeps their track out before anything is stored.
    later = write_clip(clip.parent / "later.mp4", marker_clip(4.0, [(2, 0.0, 3.0, 0.5), (3, 0.0, 3.0, 0.02)]))
    res = _ingest(ctx, [later])
    assert res.opted_out_faces == 3 and res.ingested == 1 and res.video.tracks == 1
    # Erasing the video: its rows, tracks, face times, thumbnails and index entries.
    thumbs = [f.thumbnail for f in ctx.store.image_faces(state.image_id)]
    gone = erasure.delete_image(ctx, OPERATOR, state.image_id)
    assert gone.faces == 6 and gone.images == 1
    assert not any((ctx.settings.thumbs_dir / t).exists() for t in thumbs)
    with ctx.store.session() as s:
        assert s.query(Video).filter(Video.image_id == state.image_id).count() == 0
        assert s.query(VideoTrack).filter(VideoTrack.image_id == state.image_id).count() == 0
        assert s.query(VideoFace).count() == 3  # the later clip's
    # Retention: a collection whose period has passed loses its videos like its photos.
    with ctx.store.session.begin() as s:
        s.get(type(col), col.id).retention_days = 1  # type: ignore[union-attr]
    purged = retention.purge(ctx, ADMIN, now=ctx.now() + timedelta(days=2))
    assert purged.erased.images == 2
    with ctx.store.session() as s:
        assert s.query(Video).count() == s.query(VideoTrack).count() == s.query(VideoFace).count() == 0


def test_bad_video_files_are_reported_and_stop_nothing(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ctx, clip, photos = world
    bad = tmp_path / "bad"
    bad.mkdir()
    mkv = write_clip(tmp_path / "whole.mkv", marker_clip(10.0, APPEARANCES), fmt="matroska")
    files = [
        truncated_copy(mkv, bad / "truncated.mkv", 0.5),  # streamable: what decodes is kept
        truncated_copy(clip, bad / "cut.mp4", 0.5),  # its index was at the end: nothing can be read
        audio_only(bad / "voice.m4a"),
        no_frames(bad / "empty.mkv", fmt="matroska"),
        unknown_codec(bad / "odd.avi", marker_clip(1.0, [(1, 0.0, 1.0, 0.1)])),
        bad / "notes.mp4",
        clip,
        photos["alone"],
    ]
    files[5].write_text("not a video at all")
    res = _ingest(ctx, files)
    reasons = {Path(p).name: r for p, r, _ in res.failures}
    assert reasons == {
        "truncated.mkv": "VIDEO_TRUNCATED",  # ingested up to where it decodes, and reported
        "cut.mp4": "CORRUPT_VIDEO",
        "voice.m4a": "NO_VIDEO_STREAM",
        "empty.mkv": "NO_FRAMES",
        "odd.avi": "UNSUPPORTED_CODEC",
        "notes.mp4": "NOT_AN_IMAGE",
    }
    assert res.ingested == 3 and res.video.ingested == 2 and res.failed == 5
    kept = [t for t in _tracks(ctx) if t.image_id != videos.video_state(ctx.store, 1, _sha(clip)).image_id]  # type: ignore[union-attr]
    assert kept and max(t.end for t in kept) < 5.5  # the tracks before the cut-off
    truncated = videos.video_state(ctx.store, 1, _sha(files[0]))
    assert truncated is not None and truncated.done


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _owners(ctx: Context) -> dict[int, int]:
    from facesearch.store import people as people_rows

    return {f: p for p, fs in people_rows.members(ctx.store).items() for f in fs}


def _track_faces(ctx: Context, clip: Path | None = None) -> dict[int, list[int]]:
    """Track number -> its faces, for the clip (default: the first video)."""
    with ctx.store.session() as s:
        q = s.query(VideoTrack.track, VideoFace.face_id).join(VideoFace, VideoFace.track_id == VideoTrack.id)
        if clip is not None:
            state = videos.video_state(ctx.store, ctx.store.list_collections()[0].id, _sha(clip))
            assert state is not None
            q = q.filter(VideoTrack.image_id == state.image_id)
        else:
            first = s.query(Video.image_id).order_by(Video.image_id).first()
            assert first is not None
            q = q.filter(VideoTrack.image_id == first[0])
        out: dict[int, list[int]] = {}
        for t, f in q:
            out.setdefault(int(t), []).append(int(f))
    return out


def test_marker_clips_are_what_the_pack_sees(synthetic_env: Path) -> None:
    """The clips of these tests: a marker pasted on a flat dark frame is found by the synthetic pack."""
    from facesearch.models import load_pack

    pack = load_pack("synthetic", Settings(), 1)
    frame = marker_clip(1.0, [(1, 0.0, 1.0, 0.3)]).frame(0.5, 5)
    found = pack.detect(frame)
    assert len(found) == 1
    emb = pack.embed(pack.align(frame, found))[0]
    ref = marker_photo(1, seed=1)
    ref_emb = pack.embed(pack.align(ref, pack.detect(ref)))[0]
    assert float(np.dot(emb, ref_emb)) > 0.9


def test_a_watch_hits_each_track_of_its_subject_once(world) -> None:  # type: ignore[no-untyped-def]
    ctx, clip, photos = world
    _ingest(ctx, list(photos.values()))
    probe = write_photo(clip.parent.parent / "probe1.jpg", [1], seed=41, variant=2)
    watches.add_watch(ctx, EXAMINER, Photo.from_path(probe), watches.WatchRequest("CASE-V", "TEST", day(5)))
    _ingest(ctx, [clip])
    hits = watches.list_hits(ctx, EXAMINER)
    # Identity 1's two tracks (three faces kept each): one hit per track, not one per face.
    assert [h.image.path for h in hits] == [str(clip)] * 2
    # Each hit says where in the video its face is, as a search candidate does: a time inside its track.
    for h in hits:
        assert h.video is not None and h.video.start <= h.video.time <= h.video.end
    assert len({h.video.track for h in hits if h.video is not None}) == 2
    assert sorted(videos.tracks_of_faces(ctx.store, [h.face_id for h in hits]).values()) == sorted(
        t.id for t in _tracks(ctx) if t.track in (0, 2)
    )
