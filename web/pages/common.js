// Helpers both pages use: building elements, calling the API (the console's CSRF token on every
// change, the API's error message shown when a call fails), playing HLS, and the event stream.
"use strict";

const cs = {
  csrf: null,
  // Called when the API answers 401 to a signed-in page (the sign-in expired or was revoked).
  onUnauthorized: null,

  // el("div", { class: "x", onclick: f }, "text", child, ...)
  el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  },

  toast(msg, ok) {
    const t = document.getElementById("toast");
    t.textContent = msg;
    t.className = ok ? "ok" : "error";
    t.hidden = false;
    clearTimeout(cs.toastTimer);
    cs.toastTimer = setTimeout(() => { t.hidden = true; }, 8000);
  },

  // The API's answer as JSON; a failure throws an Error whose message is the API's own (and shows it).
  async api(method, path, body, opts) {
    const headers = {};
    if (cs.csrf && method !== "GET") headers["X-CSRF-Token"] = cs.csrf;
    if (opts && opts.bearer) headers["Authorization"] = "Bearer " + opts.bearer;
    let payload;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
    const r = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    if (!r.ok) {
      const msg = (data && data.error && data.error.message) || (r.status + " " + r.statusText);
      const err = new Error(msg);
      err.status = r.status;
      err.code = data && data.error && data.error.code;
      if (r.status === 401 && cs.onUnauthorized) cs.onUnauthorized(msg);
      if (!(opts && opts.quiet)) cs.toast(msg);
      throw err;
    }
    return data;
  },

  // Plays an HLS playlist in a <video>: hls.js where Media Source exists, else the browser's own
  // HLS (Safari). Returns the hls.js instance (or null).
  play(video, url, hlsConfig) {
    if (video.hls) { video.hls.destroy(); video.hls = null; }
    if (window.Hls && Hls.isSupported()) {
      const hls = new Hls(Object.assign({ enableWorker: false, liveDurationInfinity: true }, hlsConfig || {}));
      hls.on(Hls.Events.ERROR, (_, d) => {
        if (d.fatal && d.type === Hls.ErrorTypes.NETWORK_ERROR) setTimeout(() => hls.loadSource(url), 2000);
        else if (d.fatal && d.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      video.hls = hls;
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = url;
    }
    video.muted = true;
    video.play().catch(() => {});
    return video.hls || null;
  },

  // The service's events (server-sent, no polling): `handler(event)` for each.
  events(handler) {
    const es = new EventSource("/events");
    es.onmessage = (m) => { try { handler(JSON.parse(m.data)); } catch (e) { console.error(e); } };
    return es;
  },

  time(s) {
    return s ? new Date(s * 1000).toLocaleString() : "—";
  },

  duration(s) {
    s = Math.round(s || 0);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + r + "s";
  },

  // A form's fields as an object (names → values).
  fields(form) {
    return Object.fromEntries(new FormData(form).entries());
  },
};
