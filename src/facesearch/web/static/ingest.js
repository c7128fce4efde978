/* Ingest page: start a job on a server path or uploaded files, then follow its progress. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("ingest-form"), errBox = $("form-error");
  let timer = null;

  form.querySelectorAll('input[name="kind"]').forEach((r) => r.addEventListener("change", () => {
    const kind = form.querySelector('input[name="kind"]:checked').value;
    $("src-files").hidden = kind !== "files"; $("src-path").hidden = kind !== "path"; $("src-manifest").hidden = kind !== "manifest";
  }));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const collection = $("collection").value.trim();
    const kind = form.querySelector('input[name="kind"]:checked').value;
    if (!collection) { FS.showError(errBox, "Please give a collection name."); $("collection").focus(); return; }
    const fd = new FormData(); fd.append("collection", collection);
    if (kind === "path") {
      const p = $("path").value.trim();
      if (!p) { FS.showError(errBox, "Please give a server path."); $("path").focus(); return; }
      fd.append("path", p);
    } else if (kind === "manifest") {
      const m = $("manifest").value.trim();
      if (!m) { FS.showError(errBox, "Please give the manifest's path on the server."); $("manifest").focus(); return; }
      fd.append("manifest", m);
    } else {
      const files = $("files").files;
      if (!files.length) { FS.showError(errBox, "Please choose photos or videos to upload."); $("files").focus(); return; }
      for (const f of files) fd.append("files", f);
    }
    if ($("video_fps").value) fd.append("video_fps", $("video_fps").value);
    FS.showError(errBox, "");
    try {
      const job = await FS.api("POST", "/api/v1/ingest", fd);
      follow(job.job_id); loadJobs(); loadRuns();
    } catch (err) { FS.showError(errBox, err.message); }
  });

  let serverJobs = 0, dbRuns = document.querySelectorAll("#runs tbody tr").length;
  /* "No ingest jobs yet" only when there are none: not beside a job being followed, nor above the runs. */
  function updateEmpty() { $("jobs-empty").hidden = !$("job").hidden || serverJobs > 0 || dbRuns > 0; }

  function showJob(j) {
    $("job").hidden = false; updateEmpty();
    $("job-title").textContent = `${j.collection} · ${j.source}`;
    const st = $("job-status"); st.textContent = j.status; st.className = "badge " + (j.status === "done" ? "ok" : j.status === "failed" ? "bad" : "");
    $("job-progress").value = j.progress;
    const c = j.counts || {};
    const counts = [["Files", `${j.processed} / ${j.total}`], ["Ingested", c.ingested ?? 0], ["Faces", c.faces ?? 0],
      ["No face", c.no_face ?? 0], ["Duplicates", c.duplicates ?? 0], ["Failed", c.failed ?? 0],
      ["Rate", j.images_per_second ? `${j.images_per_second} img/s` : "—"]];
    // Videos: how many, their tracks, and the one being scanned, in video seconds.
    if (c.videos !== undefined) counts.push(["Videos", c.videos], ["Tracks", c.video_tracks ?? 0], ["Video analysed", `${(c.video_seconds ?? 0).toFixed(1)} s`]);
    if (j.video) counts.push(["Scanning", `${j.video.name}: ${j.video.seconds.toFixed(1)}` + (j.video.duration ? ` / ${j.video.duration.toFixed(1)} s` : " s")]);
    $("job-counts").replaceChildren(...counts.map(([k, v]) => FS.el("div", {}, FS.el("dt", { text: k }), FS.el("dd", { text: String(v) }))));
    FS.showError($("job-error"), j.error || "");
    const body = $("job-failures").querySelector("tbody"); body.replaceChildren();
    j.failures.forEach((f) => body.append(FS.el("tr", {}, FS.el("td", { class: "mono small", text: f.path }), FS.el("td", { text: f.reason }), FS.el("td", { class: "small", text: f.detail }))));
    $("job-failures").hidden = !j.failures.length; $("job-nofail").hidden = !!j.failures.length;
  }

  function follow(id) {
    clearInterval(timer);
    const tick = async () => {
      try {
        const j = await FS.api("GET", `/api/v1/jobs/${id}`);
        showJob(j);
        if (j.status === "done" || j.status === "failed") { clearInterval(timer); loadJobs(); loadRuns(); loadCollections(); }
      } catch (err) { clearInterval(timer); FS.showError($("job-error"), err.message); }
    };
    tick(); timer = setInterval(tick, 1000);
  }

  async function loadJobs() {
    try {
      const { jobs } = await FS.api("GET", "/api/v1/jobs");
      serverJobs = jobs.length; $("jobs").hidden = !jobs.length; $("jobs-here-h").hidden = !jobs.length; updateEmpty();
      const body = $("jobs").querySelector("tbody"); body.replaceChildren();
      jobs.forEach((j) => {
        const link = FS.el("a", { href: "#", text: j.created.replace("T", " ").slice(0, 19) });
        link.addEventListener("click", (e) => { e.preventDefault(); follow(j.id); });
        body.append(FS.el("tr", {}, FS.el("td", {}, link), FS.el("td", { text: j.collection }), FS.el("td", { class: "small", text: j.source }),
          FS.el("td", { text: j.status }), FS.el("td", { text: `${j.processed}/${j.total}` })));
      });
    } catch (err) { /* the list is a convenience; the form still works */ }
  }
  const when = (t) => (t || "—").slice(0, 19).replace("T", " ");
  async function loadRuns() {
    try {
      const { runs } = await FS.api("GET", "/api/v1/ingest/runs");
      dbRuns = runs.length; $("runs").hidden = !runs.length; updateEmpty();
      $("runs").querySelector("tbody").replaceChildren(...runs.map((r) => {
        const c = r.counts || {};
        const counts = `${c.ingested ?? 0} ingested · ${c.faces ?? 0} faces · ${c.no_face ?? 0} no face · ${c.duplicates ?? 0} duplicates · ${c.failed ?? 0} failed`;
        return FS.el("tr", {}, FS.el("td", { class: "nowrap", text: when(r.started) }), FS.el("td", { text: r.collection }),
          FS.el("td", { class: "small clip", title: r.source, text: r.source }), FS.el("td", { class: "small", text: r.model }),
          FS.el("td", {}, FS.el("span", { class: "badge " + (r.status === "done" ? "ok" : r.status === "failed" ? "bad" : ""), text: r.status })),
          FS.el("td", { class: "small", text: counts }), FS.el("td", { class: "nowrap small", text: when(r.finished) }));
      }));
    } catch (err) { /* keep the list rendered with the page */ }
  }
  async function loadCollections() {
    try {
      const { collections } = await FS.api("GET", "/api/v1/collections");
      $("collections").replaceChildren(...collections.map((c) => FS.el("li", {}, FS.el("strong", { text: c.name }), " ",
        FS.el("span", { class: "muted", text: `${c.model} · ${c.images.toLocaleString("en-US")} images · ${c.faces.toLocaleString("en-US")} faces` }))));
      $("collections-empty").hidden = !!collections.length;
      $("collection-list").replaceChildren(...collections.map((c) => FS.el("option", { value: c.name })));
    } catch (err) { /* keep the list rendered with the page */ }
  }
  loadJobs();
  loadCollections();
})();
