// The console's audience, masking and service pages.
"use strict";

function roomPicker(onPick) {
  const sel = cs.el("select", { id: "room-pick" });
  cs.api("GET", "/rooms").then((rs) => {
    sel.replaceChildren(...rs.map((r) => cs.el("option", { value: r.id }, r.name)));
    if (rs.length) onPick(sel.value);
  });
  sel.addEventListener("change", () => onPick(sel.value));
  return sel;
}

function audiencePage(main) {
  // (pages count from 0, as the API's do)
  const st = { room: null, sort: "first_join", order: "desc", page: 0 };
  const nums = cs.el("div", { id: "audience-numbers", class: "numbers" });
  const chart = cs.el("div", { id: "audience-chart" });
  const table = cs.el("div", { id: "audience-viewers" });
  const load = async () => {
    if (!st.room) return;
    const a = await cs.api("GET", "/rooms/" + st.room + "/audience");
    nums.replaceChildren(...[["Online now", a.online], ["Total", a.total], ["Peak", a.peak]].map(([k, v]) =>
      cs.el("div", { class: "number" }, cs.el("b", { "data-number": k }, String(v)), cs.el("span", {}, k))));
    chart.replaceChildren(onlineChart(a.timeline));
    const q = "?sort=" + st.sort + "&order=" + st.order + "&page=" + st.page + "&per_page=20";
    viewersTable(table, await cs.api("GET", "/rooms/" + st.room + "/audience/viewers" + q), st, load);
  };
  main.append(cs.el("h1", {}, "Audience"), roomPicker((r) => { st.room = r; st.page = 0; load(); }), nums, chart, table);
  const reload = debounced(load, 1000);
  return { onEvent: (e) => { if (e.room_id === st.room) reload(); } };
}

// Online viewers per minute and platform, pause minutes shaded (an SVG: no chart library needed).
function onlineChart(tl) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  const W = 600, H = 160;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.setAttribute("class", "chart");
  if (!tl.length) return cs.el("p", { class: "muted" }, "No audience yet.");
  const max = Math.max(1, ...tl.map((m) => m.all_peak));
  const x = (i) => (tl.length === 1 ? W / 2 : (i * W) / (tl.length - 1));
  const y = (v) => H - 10 - (v * (H - 20)) / max;
  const add = (tag, attrs) => { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); svg.append(e); return e; };
  tl.forEach((m, i) => { if (m.paused) add("rect", { x: x(i) - W / tl.length / 2, y: 0, width: W / tl.length, height: H, class: "paused" }); });
  // This service's own viewers, then each platform's.
  const platforms = ["costream"].concat([...new Set(tl.flatMap((m) => Object.keys(m.platforms)))].filter((p) => p !== "costream"));
  const at = (m, p) => (p === "costream" ? m.online_peak : m.platforms[p] || 0);
  platforms.forEach((p, k) => {
    const pts = tl.map((m, i) => x(i) + "," + y(at(m, p))).join(" ");
    add("polyline", { points: pts, class: "line line" + (k % 4) }).append(Object.assign(document.createElementNS(NS, "title"), { textContent: p }));
    // A dot per minute (one minute alone makes no line), its count in its title.
    tl.forEach((m, i) => add("circle", { cx: x(i), cy: y(at(m, p)), r: 3, class: "dot line" + (k % 4), "data-platform": p, "data-value": at(m, p) })
      .append(Object.assign(document.createElementNS(NS, "title"), { textContent: p + ": " + at(m, p) })));
  });
  const legend = cs.el("p", { class: "legend" }, platforms.map((p, k) => cs.el("span", { class: "key line" + (k % 4) }, p)), " · shaded: paused");
  return cs.el("figure", {}, svg, legend);
}

function viewersTable(box, page, st, reload) {
  const cols = [["first_join", "Joined"], ["last_leave", "Last leave"], ["leaves", "Leaves"], ["watch_time", "Watch time"]];
  const head = [cs.el("th", {}, "Name")].concat(cols.map(([k, label]) => cs.el("th", {}, cs.el("button", { class: "link sort", "data-sort": k, onclick: () => {
    st.order = st.sort === k && st.order === "desc" ? "asc" : "desc";
    st.sort = k;
    reload();
  } }, label + (st.sort === k ? (st.order === "desc" ? " ▼" : " ▲") : "")))));
  const ms = (t) => (t ? new Date(t).toLocaleTimeString() : "—");
  const rows = page.viewers.map((v) => cs.el("tr", {},
    cs.el("td", {}, v.name || v.viewer.slice(0, 8)), cs.el("td", {}, ms(v.first_join_ms)), cs.el("td", {}, ms(v.last_leave_ms)),
    cs.el("td", {}, String(v.leaves)), cs.el("td", {}, cs.duration(v.watch_s))));
  const pages = Math.max(1, Math.ceil(page.total / page.per_page));
  const nav = cs.el("p", { class: "row" },
    cs.el("button", { class: "prev", disabled: st.page <= 0, onclick: () => { st.page--; reload(); } }, "‹ Previous"),
    cs.el("span", { class: "page-of" }, " page " + (page.page + 1) + " of " + pages + " (" + page.total + " viewers) "),
    cs.el("button", { class: "next", disabled: st.page >= pages - 1, onclick: () => { st.page++; reload(); } }, "Next ›"));
  box.replaceChildren(cs.el("table", {}, cs.el("thead", {}, cs.el("tr", {}, head)), cs.el("tbody", {}, rows)), nav);
}

function maskingPage(main) {
  const out = cs.el("div", { id: "channel" });
  const form = cs.el("form", { class: "row" }, cs.el("label", {}, "Channel ", cs.el("input", { name: "channel", required: true })), cs.el("button", {}, "Show"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const c = form.channel.value.trim();
    const rules = await cs.api("GET", "/channels/" + encodeURIComponent(c)).catch(() => null);
    out.replaceChildren(rules ? channelView(rules) : "");
  });
  const sessions = cs.el("div", { id: "renditions" });
  cs.api("GET", "/sessions").then((ss) => {
    sessions.replaceChildren(...ss.filter((s) => s.renditions && s.renditions.length).map((s) => cs.el("article", { class: "card" },
      cs.el("h2", {}, "Session ", cs.el("a", { href: "#session/" + s.id }, s.id)),
      cs.el("table", {}, cs.el("thead", {}, cs.el("tr", {}, ["Rendition", "Masked", "Blur", "Viewers", "Ready", "Preview"].map((h) => cs.el("th", {}, h)))),
        cs.el("tbody", {}, s.renditions.map((r) => cs.el("tr", {}, cs.el("td", {}, r.name), cs.el("td", {}, r.masked.join(", ") || "none"),
          cs.el("td", {}, String(r.sigma)), cs.el("td", {}, String(r.viewers)), cs.el("td", {}, r.ready ? "yes" : "no"),
          cs.el("td", {}, renditionPreview(s, r)))))))));
  });
  main.append(cs.el("h1", {}, "Masking"), form, out, sessions);
  return {};
}

// A rendition's preview: the view of that name, played on demand.
function renditionPreview(s, r) {
  const view = s.views.find((v) => v.name === r.name);
  if (!view || !r.ready) return "—";
  return cs.el("button", { class: "small", onclick: (ev) => {
    const v = cs.el("video", { class: "preview small", muted: true, autoplay: true, playsinline: true });
    ev.target.replaceWith(v);
    cs.play(v, view.hls);
  } }, "Preview");
}

// Each level: the points it needs, the organs still masked there (level L unlocks the first L
// of the unlock order), and how the blur drops.
function channelView(rules) {
  const thresholds = [0].concat(rules.levels);
  const lockedAt = (l) => rules.locked.filter((o) => !rules.unlock_order.slice(0, l).includes(o));
  return cs.el("table", { class: "levels" },
    cs.el("caption", {}, "Blur " + rules.sigma + " at level 0, dropping by " + Math.round(rules.sigma_drop * 100) + " % per level · unlock order: " + (rules.unlock_order.join(" → ") || "—")),
    cs.el("thead", {}, cs.el("tr", {}, ["Level", "Points", "Masked organs"].map((h) => cs.el("th", {}, h)))),
    cs.el("tbody", {}, thresholds.map((p, l) => cs.el("tr", {}, cs.el("td", {}, String(l)), cs.el("td", {}, String(p)),
      cs.el("td", {}, lockedAt(l).join(", ") || "none")))));
}

function servicePage(main) {
  const box = cs.el("div", { id: "service" });
  const load = async () => {
    const ss = await cs.api("GET", "/sessions");
    const ms = (v) => cs.el("td", { class: "num" }, v ? v.toFixed(1) : "—");
    const stages = ["upload", "composite", "encode", "tick_lateness"];
    box.replaceChildren(cs.el("table", {},
      cs.el("thead", {}, cs.el("tr", {}, ["Session", "State", "Frames", "Ticks skipped", "Behind real time", "First frame (ms)",
        "Upload (ms)", "Composite (ms)", "Encode (ms)", "Tick late (ms)"].map((h) => cs.el("th", {}, h)))),
      cs.el("tbody", {}, ss.map((s) => cs.el("tr", { "data-session": s.id }, cs.el("td", {}, cs.el("a", { href: "#session/" + s.id }, s.id)), cs.el("td", {}, s.state),
        cs.el("td", {}, String(s.frames)), cs.el("td", {}, String(s.ticks_skipped)), cs.el("td", { class: s.behind ? "error" : "" }, s.behind ? "yes" : "no"),
        cs.el("td", {}, s.activation_to_first_frame_ms ? s.activation_to_first_frame_ms.toFixed(0) : "—"),
        ...stages.map((k) => ms(s.stages_ms && s.stages_ms[k])))))),
      cs.el("p", {}, "Stage times are averages over about the last second; their histograms and every counter: ",
        cs.el("a", { href: "/metrics", target: "_blank" }, "/metrics")));
  };
  main.append(cs.el("h1", {}, "Service"), box);
  load();
  const reload = debounced(load, 1000);
  // Stage times change every frame: read them again every 2 s while the page is open.
  const timer = setInterval(() => load().catch(() => {}), 2000);
  return { leave: () => clearInterval(timer), onEvent: (e) => { if (e.type.startsWith("session_")) reload(); } };
}
