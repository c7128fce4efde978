/* Verify page: two photos side by side, the face to compare chosen on each (click its box or pick it in the
   list; the largest by default), case reference and purpose, then POST /api/v1/verify. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("verify-form"), errBox = $("form-error");
  const files = { a: null, b: null }, urls = { a: null, b: null }, faces = { a: [], b: [] }, chosen = { a: 0, b: 0 };
  const LABEL = { a: "First photo", b: "Second photo" };

  function setPhoto(side, file) {
    const view = $("view-" + side), err = $("err-" + side);
    FS.showError(err, "");
    files[side] = null; faces[side] = []; chosen[side] = 0;
    if (urls[side]) { URL.revokeObjectURL(urls[side]); urls[side] = null; }
    $("faces-" + side).hidden = true;
    $("verdict").hidden = true;
    if (!file) { view.replaceChildren(FS.el("p", { class: "muted small", text: "No photo chosen." })); return; }
    if (file.type && !file.type.startsWith("image/")) {
      view.replaceChildren(); FS.showError(err, FS.notAPhoto(file.name)); $("photo-" + side).value = ""; return;
    }
    files[side] = file;
    urls[side] = URL.createObjectURL(file);
    FS.preview(view, file, LABEL[side]).then((img) => {
      // Never a broken image. The browser cannot draw every format the server reads (TIFF), so this is no
      // verdict: the server says on submit whether it is a photo at all.
      if (!img && files[side] === file) view.replaceChildren(FS.el("p", { class: "muted small", text: `No preview of “${file.name}” in this browser.` }));
    });
    findFaces(side);
  }

  /* The faces of one photo, found with the pack the comparison will use; the largest is chosen first. */
  async function findFaces(side) {
    const file = files[side];
    if (!file) return;
    const list = $("face-list-" + side);
    $("faces-" + side).hidden = false;
    list.replaceChildren(FS.el("p", { class: "muted small", text: "Finding faces…" }));
    const fd = new FormData(); fd.append("probe", file);
    if ($("model").value) fd.append("model", $("model").value);
    try {
      const res = await FS.api("POST", "/api/v1/detect", fd);
      if (files[side] !== file) return;
      faces[side] = res.faces; chosen[side] = 0;
      renderFaces(side);
    } catch (e) {
      if (files[side] !== file) return;
      // Kept even when the server cannot read it: the comparison says so, for the right photo.
      list.replaceChildren(FS.el("p", { class: "alert error", text: FS.isImageProblem(e) ? FS.notAPhoto(file.name, e.problem) : e.message }));
    }
  }

  function rejectPhoto(side, message) {
    $("view-" + side).replaceChildren(); $("faces-" + side).hidden = true;
    FS.showError($("err-" + side), message);
    files[side] = null; $("photo-" + side).value = "";
  }

  function renderFaces(side) {
    const list = $("face-list-" + side);
    list.replaceChildren();
    if (!faces[side].length) {
      list.append(FS.el("p", { class: "alert warn", text: "No face was found in this photo. Use a photo where the face is at least 20 pixels wide." }));
    }
    faces[side].forEach((f, i) => {
      const id = `face-${side}-${i}`;
      const radio = FS.el("input", { type: "radio", name: "face-" + side, id, value: String(i), checked: i === chosen[side] });
      radio.addEventListener("change", () => choose(side, i));
      const q = `quality ${f.quality.toFixed(2)}` + (f.searchable ? (f.quality_warning ? " · below the quality bar (compared with a warning)" : "") : " · below the quality bar");
      list.append(FS.el("label", { class: "check face-choice", for: id }, radio,
        ` Face ${i + 1}${i === 0 ? " (largest)" : ""} `, FS.el("span", { class: f.searchable ? "muted" : "warn-text", text: q })));
    });
    drawBoxes(side);
  }

  function choose(side, i) {
    chosen[side] = i;
    const radio = $(`face-${side}-${i}`);
    if (radio) radio.checked = true;
    $("verdict").hidden = true;
    drawBoxes(side);
  }

  /* The photo with a box on every face found, the chosen one highlighted; a click on a box chooses it. */
  function drawBoxes(side) {
    if (!faces[side].length || !urls[side]) return;
    const holder = FS.el("div", { class: "boxed" });
    $("view-" + side).replaceChildren(holder);
    FS.boxedImage(holder, urls[side], faces[side].map((f, i) => ({
      box: f.box, label: String(i + 1), active: i === chosen[side], onClick: () => choose(side, i),
    })), LABEL[side] + " with its faces boxed");
  }

  ["a", "b"].forEach((side) => $("photo-" + side).addEventListener("change", (e) => setPhoto(side, e.target.files[0])));
  ["case_ref", "purpose"].forEach((id) => $(id).addEventListener("input", () => FS.showError(errBox, "")));
  // Another pack may find other faces: look again with the one the comparison will use.
  $("model").addEventListener("change", () => { $("verdict").hidden = true; ["a", "b"].forEach(findFaces); });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const caseRef = $("case_ref").value.trim(), purpose = $("purpose").value.trim();
    const missing = [];
    if (!files.a) missing.push("the first photo");
    if (!files.b) missing.push("the second photo");
    if (!caseRef) missing.push("the case reference");
    if (!purpose) missing.push("the purpose");
    if (missing.length) {
      const list = missing.length > 1 ? missing.slice(0, -1).join(", ") + " and " + missing[missing.length - 1] : missing[0];
      FS.showError(errBox, "Please give " + list + ".");
      (!files.a ? $("photo-a") : !files.b ? $("photo-b") : !caseRef ? $("case_ref") : $("purpose")).focus();
      return;
    }
    FS.showError(errBox, "");
    const fd = new FormData();
    fd.append("a", files.a); fd.append("b", files.b);
    fd.append("case_ref", caseRef); fd.append("purpose", purpose);
    fd.append("face_a", String(chosen.a)); fd.append("face_b", String(chosen.b));
    if ($("model").value) fd.append("model", $("model").value);
    const btn = $("verify-btn"); btn.disabled = true; btn.textContent = "Comparing…";
    try {
      const res = await FS.api("POST", "/api/v1/verify", fd);
      renderVerdict(res);
    } catch (err) {
      $("verdict").hidden = true;
      if (FS.isImageProblem(err)) {
        // Which photo it was is in the detail ("first photo" / "second photo") when the server says so.
        const detail = (err.problem.detail || "").toLowerCase();
        const side = detail.includes("second") ? "b" : detail.includes("first") ? "a" : null;
        if (side) rejectPhoto(side, FS.notAPhoto(files[side].name, err.problem));
        FS.showError(errBox, side ? "One of the photos is not a photo: choose another." : FS.notAPhoto("", err.problem));
      } else {
        FS.showError(errBox, err.message);
      }
    } finally { btn.disabled = false; btn.textContent = "Compare"; }
  });

  /* Each photo again with every face found boxed and the compared one highlighted, under the verdict. */
  function showCompared(res, k, side) {
    const compared = res.faces[k];
    const all = res.faces_found ? res.faces_found[k] : [{ face: compared.face, box: compared.box, compared: true }];
    FS.boxedImage($("result-" + side), urls[side], all.map((f) => ({ box: f.box, label: String(f.face + 1), active: f.compared })),
      `${LABEL[side]}: face ${compared.face + 1} compared`);
    $("result-faces-" + side).textContent = `Face ${compared.face + 1} of ${all.length} compared` +
      (all.length > 1 ? ` (${all.length} faces found)` : "") + ` · quality ${compared.quality.toFixed(2)}`;
  }

  function renderVerdict(res) {
    const above = res.same_person;
    const decision = res.decision || (above ? "above threshold" : "below threshold");
    const d = $("verdict-decision");
    d.className = "decision " + (above ? "above" : "below");
    d.replaceChildren(FS.el("strong", { text: (above ? "▲ " : "▽ ") + decision.charAt(0).toUpperCase() + decision.slice(1) }),
      FS.el("span", { text: above
        ? ": the two faces score at or above the threshold. A lead for an examiner to assess, not an identification."
        : ": the two faces score below the threshold. This does not prove they are different people." }));
    showCompared(res, 0, "a"); showCompared(res, 1, "b");
    const rows = [["Score", res.score.toFixed(4)], ["False-match rate", res.fmr_text],
      ["Threshold", `${res.threshold.toFixed(4)}` + (res.threshold_fmr_text ? ` (at the threshold, ${res.threshold_fmr_text})` : "")],
      ["How it was chosen", res.threshold_reason], ["Model pack", `${res.model} ${res.model_version}`],
      ["Faces compared", res.faces.map((f) => `face ${f.face + 1}`).join(" · ")],
      ["Face quality", res.faces.map((f) => f.quality.toFixed(2)).join(" · ")],
      ...res.faces.filter((f) => f.quality_warning).map((f, i) => ["Quality note", f.quality_warning]),
      ["Case", res.case_ref], ["Logged as", `verify #${res.verify_id}`]];
    $("verdict-meta").replaceChildren(...rows.flatMap(([k, v]) => [FS.el("dt", { text: k }), FS.el("dd", { text: v })]));
    $("verdict").hidden = false;
  }
})();
