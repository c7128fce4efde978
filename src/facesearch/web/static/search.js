/* Search page: pick a probe, see its faces, choose one, search with case reference and purpose. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("search-form"), input = $("probe"), drop = $("drop"), errBox = $("form-error");
  let probeFile = null, probeUrl = null, probeFaces = [], chosen = 0, lastSearch = null;

  function selectedCollections() {
    return [...form.querySelectorAll('input[name="collections"]:checked')].map((c) => c.value);
  }

  async function setProbe(file) {
    if (!file) return;
    if (!file.type.startsWith("image/") && !/\.(jpe?g|png|webp|bmp|tiff?|gif)$/i.test(file.name)) {
      FS.showError(errBox, "That file is not an image. Choose a JPEG, PNG or WebP photo."); return;
    }
    FS.showError(errBox, "");
    probeFile = file; chosen = 0; probeFaces = [];
    if (probeUrl) URL.revokeObjectURL(probeUrl);
    probeUrl = URL.createObjectURL(file);
    $("drop-label").hidden = true; $("probe-view").hidden = false;
    FS.boxedImage($("probe-boxed"), probeUrl, [], "Probe photo");
    $("faces").hidden = false;
    $("face-list").replaceChildren(FS.el("p", { class: "muted", text: "Finding faces…" }));
    const fd = new FormData(); fd.append("probe", file);
    selectedCollections().forEach((c) => fd.append("collections", c));
    try {
      const res = await FS.api("POST", "/api/v1/detect", fd);
      probeFaces = res.faces;
      renderFaces();
    } catch (e) {
      $("face-list").replaceChildren(FS.el("p", { class: "alert error", text: e.message }));
    }
  }

  function renderFaces() {
    const list = $("face-list");
    list.replaceChildren();
    if (!probeFaces.length) {
      list.append(FS.el("p", { class: "alert warn", text: "No face was found in this photo. Use a photo where the face is at least 20 pixels wide." }));
    }
    probeFaces.forEach((f, i) => {
      const id = "face-" + i;
      const radio = FS.el("input", { type: "radio", name: "face", id, value: String(i), checked: i === chosen });
      radio.addEventListener("change", () => { chosen = i; drawProbeBoxes(); });
      const q = `quality ${f.quality.toFixed(2)}` + (f.searchable ? "" : " · below the search bar");
      list.append(FS.el("label", { class: "check face-choice", for: id }, radio,
        ` Face ${i + 1}${i === 0 ? " (largest)" : ""} `, FS.el("span", { class: f.searchable ? "muted" : "warn-text", text: q })));
    });
    drawProbeBoxes();
  }

  function drawProbeBoxes() {
    FS.boxedImage($("probe-boxed"), probeUrl, probeFaces.map((f, i) => ({ box: f.box, label: String(i + 1), active: i === chosen })), "Probe photo");
  }

  function clearProbe() {
    probeFile = null; probeFaces = [];
    input.value = "";
    $("drop-label").hidden = false; $("probe-view").hidden = true; $("faces").hidden = true;
    input.focus();
  }

  input.addEventListener("change", () => setProbe(input.files[0]));
  // A message about missing fields goes away as soon as the user starts fixing them.
  ["case_ref", "purpose"].forEach((id) => $(id).addEventListener("input", () => FS.showError(errBox, "")));
  $("probe-clear").addEventListener("click", clearProbe);
  ["dragenter", "dragover"].forEach((ev) => drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((ev) => drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => { const f = e.dataTransfer.files[0]; if (f) setProbe(f); });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const caseRef = $("case_ref").value.trim(), purpose = $("purpose").value.trim();
    const missing = [];
    if (!probeFile) missing.push("a probe photo");
    if (!caseRef) missing.push("the case reference");
    if (!purpose) missing.push("the purpose");
    if (!selectedCollections().length && form.querySelector('input[name="collections"]')) missing.push("at least one collection");
    if (missing.length) {
      const list = missing.length > 1 ? missing.slice(0, -1).join(", ") + " and " + missing[missing.length - 1] : missing[0];
      FS.showError(errBox, "Please give " + list + "."); (!probeFile ? input : !caseRef ? $("case_ref") : $("purpose")).focus(); return; }
    FS.showError(errBox, "");
    const fd = new FormData();
    fd.append("probe", probeFile); fd.append("case_ref", caseRef); fd.append("purpose", purpose);
    fd.append("top_k", $("top_k").value || "10"); fd.append("face", String(chosen));
    if ($("threshold").value) fd.append("threshold", $("threshold").value);
    selectedCollections().forEach((c) => fd.append("collections", c));
    const btn = $("search-btn"); btn.disabled = true; btn.textContent = "Searching…";
    try {
      lastSearch = await FS.api("POST", "/api/v1/search", fd);
      renderResults(lastSearch);
    } catch (err) {
      FS.showError(errBox, err.message);
    } finally { btn.disabled = false; btn.textContent = "Search"; }
  });

  function renderResults(res) {
    const grid = $("grid"); grid.replaceChildren();
    const face = res.faces[0] || { matches: [] };
    const thr = face.threshold;
    $("results-meta").textContent = `Case ${res.case_ref} · ${res.gallery_size.toLocaleString("en-US")} faces in ${res.collections.join(", ")} · ` +
      (thr ? `threshold ${thr.score.toFixed(3)} (match rate ${FS.fmtRate(thr.fmr)})` : "") + ` · search #${res.search_id}`;
    const empty = $("results-empty");
    FS.showError($("results-note"), "");
    if (face.skipped) { empty.replaceChildren(FS.el("p", { text: "This face was not searched: " + face.skipped })); empty.hidden = false; return; }
    if (!face.matches.length) {
      empty.replaceChildren(FS.el("p", {}, FS.el("strong", { text: "No candidates." })), FS.el("p", { text: "The gallery returned nobody for this face. This result is logged for the case." }));
      empty.hidden = false; return;
    }
    empty.hidden = true;
    const above = face.matches.filter((m) => m.above_threshold).length;
    FS.showError($("results-note"), above ? "" : `No candidate reaches the threshold (score ≥ ${thr ? thr.score.toFixed(3) : "?"}). ` +
      "The closest faces are shown for completeness; at these scores they are most likely other people.");
    face.matches.forEach((m) => {
      const btn = FS.el("button", { type: "button", class: "cand-open", "aria-label": `Open candidate ${m.rank}: score ${m.score.toFixed(3)}, ${m.collection}` },
        FS.el("img", { src: m.thumbnail_url, alt: "" }));
      btn.addEventListener("click", () => openMatch(m));
      const src = m.source_url ? FS.el("a", { href: m.source_url, target: "_blank", rel: "noopener noreferrer", text: "source" }) : FS.el("span", { class: "muted", text: "no source URL" });
      const card = FS.el("li", { class: "cand" + (m.above_threshold ? " above" : "") },
        btn,
        FS.el("div", { class: "cand-body" },
          FS.el("div", { class: "cand-top" }, FS.el("span", { class: "rank", text: "#" + m.rank }), FS.el("span", { class: "score", text: m.score.toFixed(3) })),
          FS.el("div", { class: "small", title: "False-match rate: how often two different people score this high", text: "match rate " + FS.fmtRate(m.fmr) }),
          FS.el("div", { class: "small muted", text: m.collection }),
          FS.el("div", { class: "small lead-status status-" + (m.status || "lead"), text: (m.status || "lead") + (m.stamp ? " · " + m.stamp : "") }),
          FS.el("div", { class: "small" }, m.above_threshold ? FS.el("span", { class: "badge ok", text: "above threshold" }) : FS.el("span", { class: "badge", text: "below threshold" }), " ", src)));
      grid.append(card);
    });
  }

  async function openMatch(m) {
    const dlg = $("match");
    $("match-h").textContent = `Candidate #${m.rank} · score ${m.score.toFixed(3)}`;
    FS.boxedImage($("cmp-probe"), probeUrl, probeFaces[chosen] ? [{ box: probeFaces[chosen].box, active: true }] : [], "Probe photo");
    $("cmp-gallery").replaceChildren(FS.el("p", { class: "muted", text: "Loading…" }));
    const meta = $("match-meta"); meta.replaceChildren();
    dlg.showModal();
    try {
      const q = new URLSearchParams({ case_ref: lastSearch.case_ref, search_id: String(lastSearch.search_id) });
      const img = await FS.api("GET", `/api/v1/images/${m.image_id}?` + q.toString());
      FS.boxedImage($("cmp-gallery"), img.file_url, [{ box: m.box, active: true }], "Gallery image with the matched face boxed");
      $("cmp-cap").textContent = `Gallery image ${img.id} · ${img.collection}`;
      const rows = [["Score", m.score.toFixed(4)], ["Match rate", FS.fmtRate(m.fmr)], ["Collection", img.collection],
        ["Image id", String(img.id)], ["Face id", String(m.face_id)], ["File", img.path || "—"], ["Ingested", img.ingested_at || "—"]];
      rows.forEach(([k, v]) => meta.append(FS.el("dt", { text: k }), FS.el("dd", { text: v })));
      meta.append(FS.el("dt", { text: "Source" }), FS.el("dd", {}, img.source_url ? FS.el("a", { href: img.source_url, target: "_blank", rel: "noopener noreferrer", text: img.source_url }) : "—"));
      meta.append(FS.el("dt", { text: "Status" }), FS.el("dd", { text: (m.status || "lead") + (m.stamp ? " — " + m.stamp : "") }));
      // Two-person rule: this examiner may propose; a different examiner confirms or rejects on the Review page.
      const note = FS.el("textarea", { id: "propose-note", rows: "2", maxlength: "4000", "aria-label": "Why this candidate is the probe's person" });
      const out = FS.el("p", { class: "small muted", role: "status" });
      const btn = FS.el("button", { type: "button", class: "primary", text: "Propose as the probe's person" });
      btn.addEventListener("click", async () => {
        if (!note.value.trim()) { out.textContent = "Write a note first: why is this the probe's person?"; note.focus(); return; }
        const body = new Blob([JSON.stringify({ face_id: m.face_id, probe_face: chosen, note: note.value })], { type: "application/json" });
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
})();
