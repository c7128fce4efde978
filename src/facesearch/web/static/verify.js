/* Verify page: two photos side by side, case reference and purpose, then POST /api/v1/verify. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("verify-form"), errBox = $("form-error");
  const files = { a: null, b: null };

  function setPhoto(side, file) {
    const view = $("view-" + side), err = $("err-" + side);
    FS.showError(err, "");
    files[side] = null;
    $("verdict").hidden = true;
    if (!file) { view.replaceChildren(FS.el("p", { class: "muted small", text: "No photo chosen." })); return; }
    if (file.type && !file.type.startsWith("image/")) {
      view.replaceChildren(); FS.showError(err, FS.notAPhoto(file.name)); $("photo-" + side).value = ""; return;
    }
    files[side] = file;
    FS.preview(view, file, side === "a" ? "First photo" : "Second photo").then((img) => {
      // Never a broken image. The browser cannot draw every format the server reads (TIFF), so this is no
      // verdict: the server says on submit whether it is a photo at all.
      if (!img && files[side] === file) view.replaceChildren(FS.el("p", { class: "muted small", text: `No preview of “${file.name}” in this browser.` }));
    });
  }

  ["a", "b"].forEach((side) => $("photo-" + side).addEventListener("change", (e) => setPhoto(side, e.target.files[0])));
  ["case_ref", "purpose"].forEach((id) => $(id).addEventListener("input", () => FS.showError(errBox, "")));

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
        if (side) { $("view-" + side).replaceChildren(); FS.showError($("err-" + side), FS.notAPhoto(files[side].name, err.problem)); files[side] = null; $("photo-" + side).value = ""; }
        FS.showError(errBox, side ? "One of the photos is not a photo: choose another." : FS.notAPhoto("", err.problem));
      } else {
        FS.showError(errBox, err.message);
      }
    } finally { btn.disabled = false; btn.textContent = "Compare"; }
  });

  function renderVerdict(res) {
    const above = res.same_person;
    const decision = res.decision || (above ? "above threshold" : "below threshold");
    const d = $("verdict-decision");
    d.className = "decision " + (above ? "above" : "below");
    d.replaceChildren(FS.el("strong", { text: (above ? "▲ " : "▽ ") + decision.charAt(0).toUpperCase() + decision.slice(1) }),
      FS.el("span", { text: above
        ? ": the two faces score at or above the threshold. A lead for an examiner to assess, not an identification."
        : ": the two faces score below the threshold. This does not prove they are different people." }));
    const rows = [["Score", res.score.toFixed(4)], ["False-match rate", res.fmr_text],
      ["Threshold", `${res.threshold.toFixed(4)}` + (res.threshold_fmr_text ? ` (at the threshold, ${res.threshold_fmr_text})` : "")],
      ["How it was chosen", res.threshold_reason], ["Model pack", `${res.model} ${res.model_version}`],
      ["Face quality", res.faces.map((f) => f.quality.toFixed(2)).join(" · ")],
      ["Case", res.case_ref], ["Logged as", `verify #${res.verify_id}`]];
    $("verdict-meta").replaceChildren(...rows.flatMap(([k, v]) => [FS.el("dt", { text: k }), FS.el("dd", { text: v })]));
    $("verdict").hidden = false;
  }
})();
