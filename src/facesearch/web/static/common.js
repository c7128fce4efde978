/* Shared helpers for the pages: API calls with the session's CSRF token, problem messages, face boxes. */
"use strict";
const FS = (() => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";

  async function api(method, url, body) {
    const opts = { method, headers: { "X-CSRF-Token": csrf, "Accept": "application/json" }, credentials: "same-origin" };
    if (body !== undefined) opts.body = body;
    let resp;
    try { resp = await fetch(url, opts); } catch (e) { throw new Error("The server cannot be reached. Check your connection and try again."); }
    const type = resp.headers.get("content-type") || "";
    const data = type.includes("json") ? await resp.json() : null;
    if (resp.status === 401) { window.location = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("Signed out"); }
    if (!resp.ok) {
      const msg = data && (data.detail || data.title) ? data.detail || data.title : `Request failed (${resp.status})`;
      const err = new Error(msg); err.status = resp.status; err.problem = data; throw err;
    }
    return data;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  /* Put an image in `holder` and draw boxes ([x1,y1,x2,y2] in image pixels) over it, scaled in percent. */
  /* `size`: the [width, height] the boxes are measured in, when not the image's own (a video frame served
     smaller than the video). */
  function boxedImage(holder, src, boxes, alt, size) {
    holder.replaceChildren();
    const img = el("img", { src, alt: alt || "" });
    holder.append(img);
    const draw = () => {
      const w = size ? size[0] : img.naturalWidth, h = size ? size[1] : img.naturalHeight;
      if (!w || !h) return;
      boxes.forEach((b, i) => {
        const d = el("div", { class: "box" + (b.active ? " active" : ""), "aria-hidden": "true" });
        d.style.left = (100 * b.box[0] / w) + "%"; d.style.top = (100 * b.box[1] / h) + "%";
        d.style.width = (100 * (b.box[2] - b.box[0]) / w) + "%"; d.style.height = (100 * (b.box[3] - b.box[1]) / h) + "%";
        if (b.label) d.append(el("span", { text: b.label }));
        // A box that chooses its face on click (the page's list of faces does the same from the keyboard).
        if (b.onClick) { d.classList.add("pickable"); d.addEventListener("click", b.onClick); }
        holder.append(d);
      });
    };
    if (img.complete) draw(); else img.addEventListener("load", draw, { once: true });
    return img;
  }

  /* A photo the user chose, shown in `holder`; when the browser cannot draw it, a sentence instead of a
     broken image. Resolves to the <img> (or null when it could not be drawn). */
  function preview(holder, file, alt) {
    return new Promise((resolve) => {
      const url = URL.createObjectURL(file);
      const img = el("img", { src: url, alt: alt || "" });
      img.addEventListener("load", () => resolve(img), { once: true });
      img.addEventListener("error", () => {
        URL.revokeObjectURL(url);
        holder.replaceChildren(el("p", { class: "alert error", text: notAPhoto(file.name) }));
        resolve(null);
      }, { once: true });
      holder.replaceChildren(img);
    });
  }

  /* The message for a file that is not a photo this service can read, from the server's problem document
     (its `reason` code) or, without one, from the browser's failure to draw it. */
  function notAPhoto(name, problem) {
    const what = name ? `“${name}”` : "This file";
    const reason = problem && problem.reason;
    if (reason === "FILE_TOO_LARGE") return `${what} is larger than the upload limit. Choose a smaller photo.`;
    if (reason === "TOO_MANY_PIXELS") return `${what} has too many pixels. Choose a smaller photo.`;
    if (reason && reason !== "NOT_AN_IMAGE") return `${what} cannot be read as a photo (${problem.detail || reason}). Choose a JPEG, PNG or WebP photo.`;
    return `${what} is not a photo. Choose a JPEG, PNG or WebP photo.`;
  }

  /* Did the server refuse the upload because it is not a readable image? */
  function isImageProblem(err) { return !!(err && err.problem && err.problem.reason); }

  /* 1234567 -> "1,234,567". */
  function num(n) { return Number(n).toLocaleString("en-US"); }

  function showError(node, message) { node.textContent = message; node.hidden = !message; }

  /* Seconds from the start of a video as a player shows them: 00:07.5 (1:02:03.0 past an hour). */
  function clock(seconds) {
    const tenths = Math.max(0, Math.round(seconds * 10));
    const h = Math.floor(tenths / 36000), m = Math.floor((tenths % 36000) / 600), r = tenths % 600;
    const text = `${String(m).padStart(2, "0")}:${String(Math.floor(r / 10)).padStart(2, "0")}.${r % 10}`;
    return h ? `${h}:${text}` : text;
  }
  /* A face's moment in its video: 00:07.5 (00:07.2–00:09.0). */
  function moment(v) { return `${clock(v.time)} (${clock(v.start)}–${clock(v.end)})`; }

  return { api, el, boxedImage, preview, notAPhoto, isImageProblem, num, showError, csrf, clock, moment };
})();
