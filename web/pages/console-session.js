// A session's page: previews of its views, layout and fit, PK (invite, accept, decline, hang up,
// the bar), pause and resume with the slate picker, and polls with live bars.
"use strict";

function sessionPage(main, id) {
  const state = { s: null, rooms: [] };
  const head = cs.el("div", { id: "session-head" });
  const previews = cs.el("div", { id: "previews", class: "previews" });
  const log = cs.el("ul", { id: "session-log", class: "log" });
  const pk = cs.el("section", { id: "pk", class: "card" });
  const pause = cs.el("section", { id: "pause", class: "card" });
  const polls = cs.el("section", { id: "polls", class: "card" });
  const comments = commentsPanel();
  main.append(head, previews, comments.box, layoutForm(id), pk, pause, polls, cs.el("h2", {}, "Events"), log);
  const load = async () => {
    state.s = await cs.api("GET", "/sessions/" + id);
    const r = await cs.api("GET", "/rooms").catch(() => []);
    state.rooms = r;
    head.replaceChildren(cs.el("h1", {}, "Session ", cs.el("code", {}, id), " ",
      cs.el("span", { class: "badge " + state.s.state, id: "session-state" }, state.s.state)),
      cs.el("p", {}, state.s.frames + " frames · " + state.s.ticks_skipped + " ticks skipped" + (state.s.behind ? " · behind real time" : ""),
        " ", cs.el("button", { class: "danger", onclick: stop }, "Stop session")));
    renderPk(pk, id, state);
    renderPause(pause, id, state);
  };
  const stop = async () => {
    if (await cs.api("DELETE", "/sessions/" + id).catch(() => null) !== null) location.hash = "#sessions";
  };
  const showPreviews = () => {
    const views = state.s.views && state.s.views.length ? state.s.views : [{ name: "main", hls: state.s.hls }];
    previews.replaceChildren(...views.map((v) => {
      const video = cs.el("video", { class: "preview", "data-view": v.name, muted: true, autoplay: true, playsinline: true, controls: true });
      cs.play(video, v.hls);
      return cs.el("figure", {}, video, cs.el("figcaption", {}, v.name));
    }));
  };
  const reload = debounced(load);
  const reloadPolls = debounced(() => renderPolls(polls, id, state));
  load().then(() => { showPreviews(); comments.seed(state.s.comments); renderPolls(polls, id, state); }).catch((e) => cs.toast(e.message));
  return {
    leave: () => { comments.stop(); for (const v of previews.querySelectorAll("video")) if (v.hls) v.hls.destroy(); },
    onEvent: (e) => {
      if (e.type === "session_comment") return e.session_id === id && comments.add(e.anchor, e.text, 0);
      const mine = e.session_id === id || (e.room_id && state.s && state.s.rooms.includes(e.room_id));
      if (e.poll && e.poll.session_id === id) return reloadPolls();
      if (!mine && e.type !== "invitation") return;
      log.prepend(cs.el("li", {}, new Date().toLocaleTimeString() + " " + e.type + (e.input !== undefined ? " (input " + e.input + ")" : "")));
      reload();
    },
  };
}

// The comments and gifts each anchor's monitor shows: its newest lines, each for 30 s.
function commentsPanel() {
  const TTL_S = 30, LINES = 6;
  const shown = [];
  const lists = { a: cs.el("ol", { id: "comments-a", class: "comments" }), b: cs.el("ol", { id: "comments-b", class: "comments" }) };
  const box = cs.el("section", { id: "comments", class: "card row" }, cs.el("h2", {}, "Comments"),
    cs.el("div", {}, cs.el("h3", {}, "Anchor a"), lists.a), cs.el("div", {}, cs.el("h3", {}, "Anchor b"), lists.b));
  const render = () => {
    const now = Date.now();
    shown.splice(0, shown.length, ...shown.filter((c) => now - c.at < TTL_S * 1000));
    for (const side of ["a", "b"]) {
      lists[side].replaceChildren(...shown.filter((c) => c.anchor === side).slice(-LINES).map((c) => cs.el("li", {}, c.text)));
    }
  };
  const add = (anchor, text, ageS) => { shown.push({ anchor, text, at: Date.now() - ageS * 1000 }); render(); };
  const timer = setInterval(render, 1000);
  return {
    box,
    add,
    seed: (cs_) => { for (const c of cs_ || []) add(c.anchor, c.text, c.age_s); },
    stop: () => clearInterval(timer),
  };
}

function layoutForm(id) {
  const sel = (name, opts) => cs.el("select", { name }, opts.map((o) => cs.el("option", { value: o }, o)));
  const form = cs.el("form", { id: "layout", class: "card row" }, cs.el("h2", {}, "Layout"),
    sel("layout", ["side-by-side", "pip", "grid"]), sel("fit", ["fill", "fit"]), cs.el("button", {}, "Apply"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (await cs.api("PATCH", "/sessions/" + id, cs.fields(form)).catch(() => null)) cs.toast("Layout changed", true);
  });
  return form;
}

async function renderPk(box, id, state) {
  const invs = (await cs.api("GET", "/invitations").catch(() => [])).filter((i) => i.state === "pending" || i.state === "active" || i.session === id);
  const act = (inv, what, label) => cs.el("button", { class: what, onclick: async () => {
    const r = await cs.api("POST", "/invitations/" + inv.id + "/" + what).catch(() => null);
    if (r && what === "accept") location.hash = "#session/" + r.session;
  } }, label);
  const rows = invs.map((i) => cs.el("li", { class: "invitation", "data-invitation": i.id },
    i.from + " → " + i.to + " · " + i.state + " ",
    i.state === "pending" ? [act(i, "accept", "Accept"), act(i, "decline", "Decline")] : null,
    i.state === "active" ? act(i, "hangup", "Hang up") : null,
    i.session && i.session !== id ? cs.el("a", { href: "#session/" + i.session }, " open PK session") : null));
  const others = state.rooms.map((r) => cs.el("option", { value: r.id }, r.name));
  const invite = cs.el("form", { id: "invite", class: "row" },
    cs.el("label", {}, "From ", cs.el("select", { name: "from" }, others.map((o) => o.cloneNode(true)))),
    cs.el("label", {}, "Invite ", cs.el("select", { name: "to" }, others)),
    cs.el("button", {}, "Invite to a PK"));
  invite.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = cs.fields(invite);
    if (await cs.api("POST", "/invitations", { from: { room: f.from }, to: { room: f.to } }).catch(() => null)) cs.toast("Invitation sent", true), renderPk(box, id, state);
  });
  box.replaceChildren(cs.el("h2", {}, "PK"), cs.el("ul", {}, rows), invite);
  if (state.s.pk) box.append(pkForm(id, state.s.pk));
}

function pkForm(id, pk) {
  const inp = (name, value, type) => cs.el("input", { name, value, type: type || "text" });
  const form = cs.el("form", { id: "pk-bar", class: "grid2" },
    cs.el("label", {}, "Left name ", inp("name0", pk.names[0])), cs.el("label", {}, "Right name ", inp("name1", pk.names[1])),
    cs.el("label", {}, "Left score ", inp("score0", pk.scores[0], "number")), cs.el("label", {}, "Right score ", inp("score1", pk.scores[1], "number")),
    cs.el("label", {}, "Left colour ", inp("colorA", pk.colors_a[0], "color")), cs.el("label", {}, "Right colour ", inp("colorB", pk.colors_b[0], "color")),
    cs.el("label", {}, "Countdown (s) ", inp("countdown", pk.countdown_s === null ? "" : pk.countdown_s, "number")),
    cs.el("button", {}, "Update the bar"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = cs.fields(form);
    const patch = {
      names: [f.name0, f.name1],
      scores: [Number(f.score0), Number(f.score1)],
      colors_a: [f.colorA, pk.colors_a[1]],
      colors_b: [f.colorB, pk.colors_b[1]],
    };
    if (f.countdown !== "") patch.countdown_s = Number(f.countdown);
    if (await cs.api("PATCH", "/sessions/" + id + "/pk", patch).catch(() => null)) cs.toast("PK bar updated", true);
  });
  return form;
}

async function renderPause(box, id, state) {
  const slates = await cs.api("GET", "/slates").catch(() => []);
  const rooms = (await cs.api("GET", "/sessions/" + id).catch(() => ({ paused: [] }))).paused || [];
  const pausedIds = new Set(rooms.map((p) => p.room_id));
  const roomIds = state.rooms.filter((r) => state.s.rooms.includes(r.id));
  const picker = () => cs.el("select", { name: "slate" }, cs.el("option", { value: "auto" }, "auto (best match)"),
    slates.filter((s) => s.status === "approved").map((s) => cs.el("option", { value: s.id }, s.title + " (" + s.kind + ")")));
  const row = (r) => {
    const form = cs.el("form", { class: "row pause-room", "data-room": r.id }, cs.el("b", {}, r.name), " ",
      pausedIds.has(r.id) ? cs.el("span", { class: "badge paused" }, "paused") : null, picker(),
      cs.el("select", { name: "audio" }, cs.el("option", { value: "mute" }, "mute"), cs.el("option", { value: "keep" }, "keep sound")),
      cs.el("button", { class: "pause" }, "Pause"),
      cs.el("button", { type: "button", class: "resume", onclick: async () => {
        if (await cs.api("POST", "/rooms/" + r.id + "/resume").catch(() => null)) cs.toast("Resumed", true);
      } }, "Resume"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (await cs.api("POST", "/rooms/" + r.id + "/pause", cs.fields(form)).catch(() => null)) cs.toast("Paused", true);
    });
    return cs.el("div", {}, form, autoRanking(r));
  };
  box.replaceChildren(cs.el("h2", {}, "Pause"), ...roomIds.map(row), slateUpload(() => renderPause(box, id, state)));
}

// What "auto" would show for a room, and why: the slates ranked against the room's words.
function autoRanking(r) {
  const box = cs.el("p", { class: "muted auto-ranking", "data-room": r.id });
  cs.api("GET", "/rooms/" + r.id + "/slates/suggest", undefined, { quiet: true }).then((sg) => {
    const ranked = sg.ranking.slice(0, 5).map((x) => x.title + " " + x.score.toFixed(2) + (x.matched.length ? " (" + x.matched.join(", ") + ")" : ""));
    box.textContent = "auto shows " + sg.pick + " (" + sg.because + ")" + (ranked.length ? " · ranking: " + ranked.join(" · ") : "");
  }).catch(() => {});
  return box;
}

function slateUpload(done) {
  const err = cs.el("p", { id: "slate-error", class: "error", role: "alert" });
  const form = cs.el("form", { id: "slate-upload", class: "row" },
    cs.el("label", {}, "Slate file ", cs.el("input", { type: "file", name: "file", required: true })),
    cs.el("label", {}, "Title ", cs.el("input", { name: "title", required: true, maxlength: 200 })),
    cs.el("button", {}, "Upload slate"), err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      const s = await cs.api("POST", "/slates", new FormData(form), { quiet: true });
      cs.toast("Slate " + s.title + " uploaded (" + s.status + ")", true);
      done();
    } catch (e) {
      err.textContent = e.message;
    }
  });
  return form;
}

async function renderPolls(box, id) {
  const ps = await cs.api("GET", "/sessions/" + id + "/polls").catch(() => []);
  const form = cs.el("form", { id: "new-poll", class: "row" },
    cs.el("input", { name: "question", placeholder: "Question", required: true }),
    cs.el("input", { name: "options", placeholder: "Options, comma separated", required: true }),
    cs.el("input", { name: "duration_s", type: "number", placeholder: "Seconds", min: 5 }),
    cs.el("button", {}, "Open poll"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = cs.fields(form);
    const body = { question: f.question, options: f.options.split(",").map((o) => o.trim()).filter(Boolean) };
    if (f.duration_s) body.duration_s = Number(f.duration_s);
    if (await cs.api("POST", "/sessions/" + id + "/polls", body).catch(() => null)) renderPolls(box, id);
  });
  box.replaceChildren(cs.el("h2", {}, "Polls"), form, ...ps.slice().reverse().map(pollCard));
}

function pollCard(p) {
  const max = Math.max(1, ...p.counts);
  const close = cs.el("button", { class: "close-poll", onclick: () => cs.api("POST", "/polls/" + p.id + "/close").catch(() => null) }, "Close");
  return cs.el("div", { class: "poll", "data-poll": p.id },
    cs.el("h3", {}, p.question, " ", cs.el("span", { class: "badge" }, p.state)),
    p.options.map((o, i) => {
      // (a style set from script: the page's policy allows no inline style attribute)
      const fill = cs.el("span", { class: "fill" });
      fill.style.width = Math.round(100 * p.counts[i] / max) + "%";
      return cs.el("div", { class: "bar-row" + (p.winner === i ? " winner" : ""), "data-option": i },
        cs.el("span", { class: "label" }, o), cs.el("span", { class: "bar" }, fill), cs.el("span", { class: "count" }, String(p.counts[i])));
    }),
    cs.el("p", { class: "muted" }, p.voters + " voters" + (p.winner !== null ? " · winner: " + p.options[p.winner] : "")),
    p.state === "open" ? close : null);
}
