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
  function boxedImage(holder, src, boxes, alt) {
    holder.replaceChildren();
    const img = el("img", { src, alt: alt || "" });
    holder.append(img);
    const draw = () => {
      const w = img.naturalWidth, h = img.naturalHeight;
      if (!w || !h) return;
      boxes.forEach((b, i) => {
        const d = el("div", { class: "box" + (b.active ? " active" : ""), "aria-hidden": "true" });
        d.style.left = (100 * b.box[0] / w) + "%"; d.style.top = (100 * b.box[1] / h) + "%";
        d.style.width = (100 * (b.box[2] - b.box[0]) / w) + "%"; d.style.height = (100 * (b.box[3] - b.box[1]) / h) + "%";
        if (b.label) d.append(el("span", { text: b.label }));
        holder.append(d);
      });
    };
    if (img.complete) draw(); else img.addEventListener("load", draw, { once: true });
    return img;
  }

  function fmtRate(fmr) {
    if (fmr === null || fmr === undefined) return "—";
    if (fmr <= 0) return "< 1 in 1,000,000";
    if (fmr >= 0.5) return "≥ 1 in 2";
    const n = Math.round(1 / fmr);
    return "1 in " + n.toLocaleString("en-US");
  }

  function showError(node, message) { node.textContent = message; node.hidden = !message; }

  return { api, el, boxedImage, fmtRate, showError, csrf };
})();
