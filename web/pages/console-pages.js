// The console's pages apart from a session's: rooms, sessions, audience, masking, service. Each
// page is `make(main, arg)` returning `{ onEvent, leave }`; events re-read what they concern.
"use strict";

// Runs `f` once after a burst of calls (events come in bursts).
function debounced(f, ms) {
  let t = null;
  return () => { clearTimeout(t); t = setTimeout(f, ms || 150); };
}

function masked(secret) {
  return secret ? "•".repeat(8) + secret.slice(-4) : "—";
}

// A secret shown masked, with reveal and copy; `load` gives it in full when it is not at hand.
function secretField(cls, shown, load) {
  const span = cs.el("code", { class: cls }, masked(shown));
  let full = null;
  const reveal = cs.el("button", { class: "reveal small", type: "button", onclick: async () => {
    full = full || (load ? await load() : shown);
    const hidden = span.textContent !== full;
    span.textContent = hidden ? full : masked(full);
    reveal.textContent = hidden ? "Hide" : "Reveal";
  } }, "Reveal");
  const copy = cs.el("button", { class: "copy small", type: "button", onclick: async () => {
    full = full || (load ? await load() : shown);
    await navigator.clipboard.writeText(full).then(() => cs.toast("Copied", true), () => cs.toast("The browser refused the clipboard"));
  } }, "Copy");
  return cs.el("span", {}, span, " ", reveal, " ", copy);
}

function roomsPage(main) {
  const list = cs.el("div", { id: "rooms" });
  main.append(cs.el("h1", {}, "Rooms"));
  if (app.me.role === "operator") main.append(createRoomForm());
  main.append(list);
  const load = async () => {
    const rooms = await cs.api("GET", "/rooms");
    const cards = await Promise.all(rooms.map(roomCard));
    list.replaceChildren(...(cards.length ? cards : [cs.el("p", { class: "muted" }, "No rooms yet.")]));
  };
  const reload = debounced(load);
  load();
  return { onEvent: (e) => { if (e.room_id || e.type === "session_started" || e.type === "session_stopped") reload(); } };
}

function createRoomForm() {
  const box = (id, name, checked) => cs.el("label", { class: "check" }, cs.el("input", { type: "checkbox", name: "p", value: id, checked }), " " + name);
  const boxes = cs.el("span", { id: "room-platforms" }, box("costream", "costream", true));
  cs.api("GET", "/platforms").then((ps) => {
    for (const p of ps) if (p.id !== "costream") boxes.append(box(p.id, p.name + " (" + p.kind + ")", false));
  }).catch(() => {});
  const form = cs.el("form", { id: "create-room", class: "card" },
    cs.el("h2", {}, "New room"),
    cs.el("label", {}, "Name ", cs.el("input", { name: "name", required: true, maxlength: 200 })),
    cs.el("div", {}, "Platforms: ", boxes),
    cs.el("button", { type: "submit" }, "Create room"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const platforms = [...form.querySelectorAll("input[name=p]:checked")].map((b) => b.value);
    const r = await cs.api("POST", "/rooms", { name: form.name.value, platforms }).catch(() => null);
    if (r) { form.reset(); cs.toast("Room " + r.name + " created", true); route(); }
  });
  return form;
}

async function roomCard(r) {
  const ps = await cs.api("GET", "/rooms/" + r.id + "/platforms").catch(() => []);
  const dests = await cs.api("GET", "/rooms/" + r.id + "/destinations").catch(() => []);
  const regen = cs.el("button", { class: "regenerate", onclick: async () => {
    if (await cs.api("POST", "/rooms/" + r.id + "/key").catch(() => null)) cs.toast("New key issued; the old one is refused", true), route();
  } }, "Regenerate key");
  const start = cs.el("button", { class: "start-session", onclick: async () => {
    const s = await cs.api("POST", "/sessions", { inputs: [{ room: r.id }] }).catch(() => null);
    if (s) location.hash = "#session/" + s.id;
  } }, "Start a session");
  const pub = cs.el("button", { class: "public", onclick: async () => {
    if (await cs.api("PUT", "/rooms/" + r.id + "/public", { public: !r.public }).catch(() => null)) route();
  } }, r.public ? "Make private" : "Make public");
  return cs.el("article", { class: "card room", id: "room-" + r.id, "data-room": r.id },
    cs.el("h2", {}, r.name, " ", cs.el("span", { class: "status badge " + r.status }, r.status)),
    cs.el("dl", {},
      cs.el("dt", {}, "Room id"), cs.el("dd", {}, cs.el("code", {}, r.id)),
      cs.el("dt", {}, "Stream key"), cs.el("dd", {}, r.key ? secretField("key", r.key.key) : "—"),
      cs.el("dt", {}, "Key expires"), cs.el("dd", { class: "expiry" }, r.key ? cs.time(r.key.expires_at) : "—"),
      cs.el("dt", {}, "Publish path"), cs.el("dd", {}, cs.el("code", {}, r.publish_path || "—")),
      cs.el("dt", {}, "Live"), cs.el("dd", { class: "live" }, r.live ? "since " + cs.time(r.live.since) + " from " + r.live.peer : "no"),
      cs.el("dt", {}, "Shows"), cs.el("dd", {}, sourcePicker(r)),
      r.paused ? [cs.el("dt", {}, "Paused"), cs.el("dd", {}, "since " + cs.time(r.paused.paused_since) + " (" + r.paused.slate + ")")] : null),
    cs.el("div", { class: "row" }, regen, start, app.me.role === "operator" ? pub : null),
    platformTable(r, ps),
    dests.length ? destinationTable(dests) : null);
}

// The source the room's tile shows, and a switch to another one being published.
function sourcePicker(r) {
  const live = r.sources.map((s) => s.name);
  if (live.length < 2) return cs.el("span", { class: "source" }, r.source + (live.length ? "" : " (nothing published)"));
  const sel = cs.el("select", { class: "source" }, live.map((n) => cs.el("option", { value: n, selected: n === r.source }, n)));
  sel.addEventListener("change", async () => {
    if (await cs.api("POST", "/rooms/" + r.id + "/source", { name: sel.value }).catch(() => null)) cs.toast("Shows " + sel.value, true);
  });
  return sel;
}

function platformTable(r, ps) {
  if (!ps.length) return null;
  const row = (p) => cs.el("tr", { "data-platform": p.platform },
    cs.el("td", {}, p.platform),
    cs.el("td", {}, cs.el("code", {}, p.push_server)),
    cs.el("td", {}, secretField("platform-key", p.stream_key, async () =>
      (await cs.api("GET", "/rooms/" + r.id + "/platforms/" + p.platform + "/key")).key)),
    cs.el("td", {}, p.live_address ? cs.el("a", { href: p.live_address, target: "_blank", rel: "noopener" }, "open") : "—"),
    cs.el("td", { class: "platform-status" }, p.status),
    cs.el("td", { class: "key-status" }, p.key_status),
    cs.el("td", {}, cs.time(p.key_expires_at)),
    cs.el("td", {}, String(p.reconnects)),
    cs.el("td", { class: "error" }, p.last_error || ""),
    cs.el("td", {}, cs.el("button", { class: "small", onclick: async () => {
      if (await cs.api("POST", "/rooms/" + r.id + "/platforms/" + p.platform + "/key").catch(() => null)) route();
    } }, "Regenerate")));
  return cs.el("table", { class: "platforms" },
    cs.el("thead", {}, cs.el("tr", {}, ["Platform", "Push server", "Key", "Live address", "Status", "Key status", "Expires", "Reconnects", "Last error", ""].map((h) => cs.el("th", {}, h)))),
    cs.el("tbody", {}, ps.map(row)));
}

// A destination's URL names its stream key: only its server is shown.
function destinationTable(ds) {
  const server = (u) => { try { const x = new URL(u); return x.protocol + "//" + x.host + "/…"; } catch (_) { return "…"; } };
  return cs.el("table", { class: "destinations" },
    cs.el("thead", {}, cs.el("tr", {}, ["Destination", "Server", "Added"].map((h) => cs.el("th", {}, h)))),
    cs.el("tbody", {}, ds.map((d) => cs.el("tr", {},
      cs.el("td", {}, d.id), cs.el("td", {}, cs.el("code", {}, server(d.url))), cs.el("td", {}, cs.time(d.created_at))))));
}

function sessionsPage(main) {
  const list = cs.el("div", { id: "sessions" });
  main.append(cs.el("h1", {}, "Sessions"), list);
  const load = async () => {
    const ss = await cs.api("GET", "/sessions");
    list.replaceChildren(...(ss.length ? ss.map((s) => cs.el("article", { class: "card" },
      cs.el("h2", {}, cs.el("a", { href: "#session/" + s.id }, s.id), " ", cs.el("span", { class: "badge " + s.state }, s.state)),
      cs.el("p", {}, s.frames + " frames, " + s.ticks_skipped + " ticks skipped" + (s.behind ? ", behind real time" : ""))))
      : [cs.el("p", { class: "muted" }, "No session runs.")]));
  };
  const reload = debounced(load);
  load();
  return { onEvent: (e) => { if (e.type.startsWith("session_")) reload(); } };
}
