/* Search page: pick a probe (a photo, or a clip whose tracks are its faces), see its faces, choose one,
   search with case reference and purpose. A candidate from a video shows its time, the frame it was seen on,
   and plays the video from that time. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("search-form"), input = $("probe"), drop = $("drop"), errBox = $("form-error");
  let probeFile = null, probeUrl = null, probeFaces = [], chosen = 0, lastSearch = null, probeClip = false;
  const isVideo = (file) => !!(file && file.type && file.type.startsWith("video/"));

  function selectedCollections() {
    return [...form.querySelectorAll('input[name="collections"]:checked')].map((c) => c.value);
  }

  async function setProbe(file) {
    if (!file) return;
    if (file.type && !file.type.startsWith("image/") && !isVideo(file)) { rejectProbe(FS.notAPhoto(file.name)); return; }
    FS.showError(errBox, ""); FS.showError($("probe-note"), "");
    probeFile = file; chosen = 0; probeFaces = []; probeClip = isVideo(file);
    $("force").checked = false;  // searching anyway is chosen per probe, never carried over to the next one
    if (probeUrl) URL.revokeObjectURL(probeUrl);
    probeUrl = URL.createObjectURL(file);
    $("drop-label").hidden = true; $("probe-view").hidden = false;
    showProbe([]);
    $("faces").hidden = false;
    $("face-list").replaceChildren(FS.el("p", { class: "muted", text: probeClip ? "Following the faces in the clip…" : "Finding faces…" }));
    const fd = new FormData(); fd.append("probe", file);
    selectedCollections().forEach((c) => fd.append("collections", c));
    try {
      const res = await FS.api("POST", "/api/v1/detect", fd);
      if (probeFile !== file) return;
      probeFaces = res.faces;
      if (!!res.video !== probeClip) { probeClip = !!res.video; showProbe([]); }
      renderFaces();
    } catch (e) {
      if (probeFile !== file) return;
      if (FS.isImageProblem(e)) { rejectProbe(probeClip ? notAClip(file.name, e.problem) : FS.notAPhoto(file.name, e.problem)); return; }
      $("face-list").replaceChildren(FS.el("p", { class: "alert error", text: e.message }));
    }
  }

  function notAClip(name, problem) {
    return `“${name}” cannot be read as a video (${(problem && (problem.detail || problem.reason)) || "unreadable"}). Choose an MP4, MOV, WebM or MKV clip, or a photo.`;
  }

  /* A file that is no photo: say so where the photo would be, and start over. */
  function rejectProbe(message) {
    clearProbe(false);
    FS.showError($("probe-note"), message);
  }

  function renderFaces() {
    const list = $("face-list");
    list.replaceChildren();
    if (!probeFaces.length) {
      list.append(FS.el("p", { class: "alert warn", text: probeClip
        ? "No face was followed in this clip. Use a clip where a face is at least 20 pixels wide for a moment."
        : "No face was found in this photo. Use a photo where the face is at least 20 pixels wide." }));
    }
    probeFaces.forEach((f, i) => {
      const id = "face-" + i;
      const radio = FS.el("input", { type: "radio", name: "face", id, value: String(i), checked: i === chosen });
      radio.addEventListener("change", () => { chosen = i; drawProbeBoxes(); });
      const q = `quality ${f.quality.toFixed(2)}` + (!f.searchable ? " · below the quality bar: refused unless you search anyway"
        : f.quality_warning ? " · below the quality bar: searched with a warning" : "");
      // A clip's faces are its tracks, in order of appearance, each with its times.
      const label = f.video ? ` Face ${i + 1} · on screen ${FS.clock(f.video.start)}–${FS.clock(f.video.end)}, best at ${FS.clock(f.video.time)} `
        : ` Face ${i + 1}${i === 0 ? " (largest)" : ""} `;
      list.append(FS.el("label", { class: "check face-choice", for: id }, radio,
        label, FS.el("span", { class: f.searchable ? "muted" : "warn-text", text: q })));
    });
    drawProbeBoxes();
  }

  function drawProbeBoxes() {
    if (probeClip) { seekProbe(); return; }
    showProbe(probeFaces.map((f, i) => ({ box: f.box, label: String(i + 1), active: i === chosen })));
  }

  /* A clip's preview goes to the chosen face's best moment. */
  function seekProbe() {
    const v = $("probe-boxed").querySelector("video"), f = probeFaces[chosen];
    if (v && f && f.video) { try { v.currentTime = f.video.time; } catch (e) { /* not seekable yet */ } }
  }

  /* The probe with its face boxes; never a broken image: a file the browser cannot draw gets a sentence
     (the server's answer then says whether it is a photo at all). */
  function showProbe(boxes) {
    const file = probeFile;
    if (probeClip) {
      const v = FS.el("video", { src: probeUrl, controls: "", muted: "", preload: "metadata", "aria-label": "Probe clip" });
      v.addEventListener("error", () => {
        if (probeFile === file) $("probe-boxed").replaceChildren(FS.el("p", { class: "muted small", text: `No preview of “${file.name}” in this browser; its faces are listed below.` }));
      }, { once: true });
      v.addEventListener("loadedmetadata", seekProbe, { once: true });
      $("probe-boxed").replaceChildren(v);
      return;
    }
    const img = FS.boxedImage($("probe-boxed"), probeUrl, boxes, "Probe photo");
    img.addEventListener("error", () => {
      if (probeFile === file) $("probe-boxed").replaceChildren(FS.el("p", { class: "muted small", text: `No preview of “${file.name}” in this browser.` }));
    }, { once: true });
  }

  function clearProbe(focus = true) {
    probeFile = null; probeFaces = []; probeClip = false;
    if (probeUrl) { URL.revokeObjectURL(probeUrl); probeUrl = null; }
    input.value = "";
    $("probe-boxed").replaceChildren();
    $("drop-label").hidden = false; $("probe-view").hidden = true; $("faces").hidden = true; $("probe-note").hidden = true;
    if (focus) input.focus();
  }

  input.addEventListener("change", () => setProbe(input.files[0]));
  // A message about missing fields goes away as soon as the user starts fixing them.
  ["case_ref", "purpose"].forEach((id) => $(id).addEventListener("input", () => FS.showError(errBox, "")));
  $("probe-clear").addEventListener("click", () => clearProbe());
  ["dragenter", "dragover"].forEach((ev) => drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((ev) => drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => { const f = e.dataTransfer.files[0]; if (f) setProbe(f); });

  form.addEventListener("submit", (e) => { e.preventDefault(); runSearch(); });

  /* A probe face the quality gate refuses: say why in the page's words, and offer to search anyway (the
     search's audit entry records that it was forced, as --force does on the command line). */
  function poorProbe(err) {
    const reasons = (err.problem.reasons || []).join(", ") || "low quality";
    FS.showError(errBox, `This face is too poor to search (${reasons}): use a better photo, or search anyway. `);
    const again = FS.el("button", { type: "button", class: "link", id: "search-anyway", text: "Search anyway" });
    again.addEventListener("click", () => { $("force").checked = true; runSearch(); });
    errBox.append(again);
  }

  async function runSearch() {
    const caseRef = $("case_ref").value.trim(), purpose = $("purpose").value.trim();
    const missing = [];
    if (!probeFile) missing.push("a probe photo or clip");
    if (!caseRef) missing.push("the case reference");
    if (!purpose) missing.push("the purpose");
    if (!selectedCollections().length && form.querySelector('input[name="collections"]')) missing.push("at least one collection");
    if (missing.length) {
      const list = missing.length > 1 ? missing.slice(0, -1).join(", ") + " and " + missing[missing.length - 1] : missing[0];
      FS.showError(errBox, "Please give " + list + "."); (!probeFile ? input : !caseRef ? $("case_ref") : $("purpose")).focus(); return; }
    FS.showError(errBox, "");
    const fd = new FormData();
    fd.append("probe", probeFile); fd.append("case_ref", caseRef); fd.append("purpose", purpose);
    fd.append("top_k", $("top_k").value || "10");
    if ($("all_faces").checked) fd.append("all_faces", "true"); else fd.append("face", String(chosen));
    if ($("threshold").value) fd.append("threshold", $("threshold").value);
    if ($("force").checked) fd.append("force", "true");
    selectedCollections().forEach((c) => fd.append("collections", c));
    const btn = $("search-btn"); btn.disabled = true; btn.textContent = "Searching…";
    try {
      lastSearch = await FS.api("POST", "/api/v1/search", fd);
      renderResults(lastSearch);
    } catch (err) {
      if (err.status === 422 && err.problem && err.problem.reasons && err.problem.reasons.length && !$("force").checked) poorProbe(err);
      else FS.showError(errBox, err.message);
    } finally { btn.disabled = false; btn.textContent = "Search"; }
  }

  /* One group per answer entry: a model pack (each collection is searched with the pack that built it,
     so a search over collections of two packs answers twice) and, with "all faces", a probe face. */
  function renderResults(res) {
    const groups = $("groups"); groups.replaceChildren();
    const packs = new Set(res.faces.map((f) => f.model));
    const probeFacesSearched = new Set(res.faces.map((f) => f.face));
    $("results-meta").textContent = `Case ${res.case_ref} · ${FS.num(res.gallery_size)} faces in ${res.collections.join(", ")} · ` +
      `${packs.size} model pack${packs.size === 1 ? "" : "s"} · search #${res.search_id}`;
    const empty = $("results-empty");
    const total = res.faces.reduce((n, f) => n + (f.matches || []).length, 0);
    if (!total && res.faces.every((f) => !f.skipped)) {
      empty.replaceChildren(FS.el("p", {}, FS.el("strong", { text: "No candidates." })), FS.el("p", { text: "The gallery returned nobody for this probe. This result is logged for the case." }));
      empty.hidden = false;
    } else { empty.hidden = true; }
    res.faces.forEach((face, gi) => groups.append(renderGroup(face, gi, packs.size > 1, probeFacesSearched.size > 1)));
  }

  function renderGroup(face, gi, manyPacks, manyFaces) {
    const thr = face.threshold;
    const title = [`Model pack ${face.model}`];
    if (manyFaces || face.face !== 0) title.push(`probe face ${face.face + 1}`);
    const id = "group-h-" + gi;
    const section = FS.el("section", { class: "group", "aria-labelledby": id, "data-model": face.model, "data-face": String(face.face) },
      FS.el("h3", { id, text: title.join(" · ") }));
    const compared = face.gallery_size !== undefined && face.gallery_size !== null
      ? `${FS.num(face.gallery_size)} faces compared` + (face.collections ? ` in ${face.collections.join(", ")}` : "") : "";
    const thrText = thr ? `threshold ${thr.score.toFixed(3)} (at the threshold, ${thr.fmr_text || "—"})` : "";
    section.append(FS.el("p", { class: "small muted group-meta", text: [compared, thrText].filter(Boolean).join(" · ") }));
    if (face.skipped) { section.append(FS.el("p", { class: "alert warn", text: "This face was not searched: " + face.skipped })); return section; }
    if (face.quality_warning) section.append(FS.el("p", { class: "alert warn quality-note", role: "status", text: "Probe quality: " + face.quality_warning }));
    if (!face.matches.length) {
      section.append(FS.el("p", { class: "muted", text: manyPacks ? `No candidates among the ${face.model} collections.` : "No candidates." }));
      return section;
    }
    if (!face.matches.some((m) => m.above_threshold)) {
      section.append(FS.el("p", { class: "alert warn", role: "status", text: `No candidate reaches the threshold (score ≥ ${thr ? thr.score.toFixed(3) : "?"}). ` +
        "The closest faces are shown for completeness; at these scores they are most likely other people." }));
    }
    const grid = FS.el("ol", { class: "grid" });
    face.matches.forEach((m) => {
      const decision = m.decision || (m.above_threshold ? "above threshold" : "below threshold");
      const btn = FS.el("button", { type: "button", class: "cand-open", "aria-label": `Open candidate ${m.rank} (${face.model}): score ${m.score.toFixed(3)}, ${decision}, ${m.collection}` },
        FS.el("img", { src: m.thumbnail_url, alt: "" }));
      btn.addEventListener("click", () => openMatch(m, face));
      const src = m.source_url ? FS.el("a", { href: m.source_url, target: "_blank", rel: "noopener noreferrer", text: "source" }) : FS.el("span", { class: "muted", text: "no source URL" });
      const card = FS.el("li", { class: "cand" + (m.above_threshold ? " above" : " below") },
        btn,
        FS.el("div", { class: "cand-body" },
          FS.el("div", { class: "cand-top" }, FS.el("span", { class: "rank", text: "#" + m.rank }), FS.el("span", { class: "score", text: m.score.toFixed(3) })),
          FS.el("div", { class: "decision-line" }, FS.el("span", { class: "badge " + (m.above_threshold ? "ok" : "below"), text: (m.above_threshold ? "▲ " : "▽ ") + decision })),
          FS.el("div", { class: "small fmr", title: "False-match rate: the share of different people whose faces score this high against the probe", text: m.fmr_text }),
          FS.el("div", { class: "small muted", text: m.collection }),
          m.video ? FS.el("div", { class: "small video-time", title: "Seen at (the track's start–end)", text: "▶ " + FS.moment(m.video) }) : "",
          FS.el("div", { class: "small lead-status status-" + (m.status || "lead"), text: (m.status || "lead") + (m.stamp ? " · " + m.stamp : "") }),
          FS.el("div", { class: "small" }, src)));
      grid.append(card);
    });
    section.append(grid);
    return section;
  }

  async function openMatch(m, face) {
    const dlg = $("match");
    $("match-h").textContent = `Candidate #${m.rank} · ${face.model} · score ${m.score.toFixed(3)}`;
    if (face.video) {
      const pv = FS.el("video", { src: `${probeUrl}#t=${face.video.time}`, controls: "", muted: "", preload: "metadata", "aria-label": "Probe clip at the probe face's moment" });
      $("cmp-probe").replaceChildren(pv, FS.el("p", { class: "small muted", text: `Probe face ${face.face + 1}: ${FS.moment(face.video)}` }));
    } else {
      FS.boxedImage($("cmp-probe"), probeUrl, face.box ? [{ box: face.box, active: true }] : [], "Probe photo");
    }
    $("cmp-gallery").replaceChildren(FS.el("p", { class: "muted", text: "Loading…" }));
    $("cmp-video").replaceChildren(); $("cmp-video").hidden = true;
    const meta = $("match-meta"); meta.replaceChildren();
    dlg.showModal();
    try {
      const q = new URLSearchParams({ case_ref: lastSearch.case_ref, search_id: String(lastSearch.search_id) });
      const img = await FS.api("GET", `/api/v1/images/${m.image_id}?` + q.toString());
      let rows;
      if (m.video) {
        // The frame the face was seen on (served at most 1280 px: the box is in the video's own pixels), and
        // the video itself, played from that moment (the file is served in byte ranges).
        FS.boxedImage($("cmp-gallery"), `/api/v1/faces/${m.face_id}/frame`, [{ box: m.box, active: true }], `Video frame at ${FS.clock(m.video.time)} with the matched face boxed`, [img.width, img.height]);
        $("cmp-cap").textContent = `Video ${img.id} · ${img.collection} · frame ${m.video.frame} at ${FS.clock(m.video.time)}`;
        const player = FS.el("video", { src: `${img.file_url}#t=${m.video.time}`, controls: "", preload: "metadata", "aria-label": `The video, from ${FS.clock(m.video.time)}` });
        player.addEventListener("error", () => $("cmp-video").append(FS.el("p", { class: "small muted", text: "This browser cannot play this video's format; the frame above is the moment the face was seen." })), { once: true });
        $("cmp-video").replaceChildren(FS.el("p", { class: "small", text: `Plays from ${FS.clock(m.video.time)} (the track: ${FS.clock(m.video.start)}–${FS.clock(m.video.end)})` }), player);
        $("cmp-video").hidden = false;
        rows = [["Score", m.score.toFixed(4)], ["Decision", m.decision], ["False-match rate", m.fmr_text],
          ["Model pack", face.model], ["Collection", img.collection], ["Seen at", FS.moment(m.video)],
          ["Frame", String(m.video.frame)], ["Track", String(m.video.track)],
          ["Video id", String(img.id)], ["Face id", String(m.face_id)], ["File", img.path || "—"], ["Ingested", img.ingested_at || "—"]];
      } else {
        FS.boxedImage($("cmp-gallery"), img.file_url, [{ box: m.box, active: true }], "Gallery image with the matched face boxed");
        $("cmp-cap").textContent = `Gallery image ${img.id} · ${img.collection}`;
        rows = [["Score", m.score.toFixed(4)], ["Decision", m.decision], ["False-match rate", m.fmr_text],
          ["Model pack", face.model], ["Collection", img.collection],
          ["Image id", String(img.id)], ["Face id", String(m.face_id)], ["File", img.path || "—"], ["Ingested", img.ingested_at || "—"]];
      }
      rows.forEach(([k, v]) => meta.append(FS.el("dt", { text: k }), FS.el("dd", { text: v })));
      meta.append(FS.el("dt", { text: "Source" }), FS.el("dd", {}, img.source_url ? FS.el("a", { href: img.source_url, target: "_blank", rel: "noopener noreferrer", text: img.source_url }) : "—"));
      meta.append(FS.el("dt", { text: "Status" }), FS.el("dd", { text: (m.status || "lead") + (m.stamp ? " — " + m.stamp : "") }));
      // Two-person rule: this examiner may propose; a different examiner confirms or rejects on the Review page.
      const note = FS.el("textarea", { id: "propose-note", rows: "2", maxlength: "4000", "aria-label": "Why this candidate is the probe's person" });
      const out = FS.el("p", { class: "small muted", role: "status" });
      const btn = FS.el("button", { type: "button", class: "primary", text: "Propose as the probe's person" });
      btn.addEventListener("click", async () => {
        if (!note.value.trim()) { out.textContent = "Write a note first: why is this the probe's person?"; note.focus(); return; }
        const body = new Blob([JSON.stringify({ face_id: m.face_id, probe_face: face.face, note: note.value })], { type: "application/json" });
        try {
          const p = await FS.api("POST", `/api/v1/searches/${lastSearch.search_id}/proposals`, body);
          m.status = p.status; out.textContent = `Proposed (#${p.id}). A second examiner must confirm or reject it.`; btn.disabled = true;
        } catch (err) { out.textContent = err.message; }
      });
      meta.append(FS.el("dt", { text: "Propose" }), FS.el("dd", {}, note, btn, out));
    } catch (err) {
      $("cmp-gallery").replaceChildren(FS.el("p", { class: "alert error", text: err.message }));
    }
  }
  $("match-close").addEventListener("click", () => $("match").close());
  // A video left playing in a closed dialog would go on (and go on fetching).
  $("match").addEventListener("close", () => $("match").querySelectorAll("video").forEach((v) => v.pause()));
})();
