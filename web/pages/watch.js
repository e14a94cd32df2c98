// The viewer page, /watch/<session>: plays the viewer's own playlist (their masked rendition on a
// masked session, a public room's playlist with no link), reports likes and comments on the
// viewer's own token (the service rate-limits them; gifts are paid on the platform, never sent
// from here), shows the viewer's level, and the poll of a pause with its live results.
"use strict";

const watch = { session: location.pathname.split("/")[2], token: null, channel: null, poll: null };

function fragment() {
  return Object.fromEntries(new URLSearchParams(location.hash.slice(1)));
}

function status(text) {
  document.getElementById("status").textContent = text;
}

async function report(kind) {
  const path = "/channels/" + watch.channel + "/viewers/" + watch.token + "/events";
  const v = await cs.api("POST", path, { kind }).catch(() => null);
  if (v) showLevel(v);
}

function showLevel(v) {
  const masked = v.masked.length ? "masked: " + v.masked.join(", ") : "nothing masked";
  document.getElementById("level").textContent = "Level " + v.level + " of " + v.top_level + " · " + Math.round(v.points) + " points · " + masked;
  document.getElementById("level").dataset.level = v.level;
}

async function showPoll(p) {
  watch.poll = p;
  const box = document.getElementById("poll");
  box.hidden = false;
  document.getElementById("poll-question").textContent = p.question;
  const total = Math.max(1, p.counts.reduce((a, b) => a + b, 0));
  const open = p.state === "open" && watch.token;
  document.getElementById("poll-options").replaceChildren(...p.options.map((o, i) => {
    const fill = cs.el("span", { class: "fill" });
    fill.style.width = Math.round((100 * p.counts[i]) / total) + "%";
    return cs.el("div", { class: "bar-row" + (p.winner === i ? " winner" : ""), "data-option": i },
      open ? cs.el("button", { class: "vote", onclick: () => vote(i) }, o) : cs.el("span", { class: "label" }, o),
      cs.el("span", { class: "bar" }, fill), cs.el("span", { class: "count" }, String(p.counts[i])));
  }));
  const result = p.winner !== null && p.winner !== undefined ? "Winner: " + p.options[p.winner] : p.voters + " voted";
  document.getElementById("poll-result").textContent = result;
}

async function vote(i) {
  const p = await cs.api("POST", "/polls/" + watch.poll.id + "/votes", { option: i }, { bearer: watch.token }).catch(() => null);
  if (p) showPoll(p), cs.toast("Vote counted", true);
}

async function loadPoll(id) {
  const p = await cs.api("GET", "/polls/" + id, undefined, { bearer: watch.token, quiet: true }).catch(() => null);
  if (p) showPoll(p);
}

function follow() {
  const es = new EventSource("/watch/" + watch.session + "/events");
  es.onmessage = (m) => {
    const e = JSON.parse(m.data);
    if (e.poll) showPoll(e.poll);
    else if (e.type === "room_paused") status("The anchor is away for a moment.");
    else if (e.type === "room_resumed") status("");
    else if (e.type === "session_stopped") status("The show has ended."), es.close();
  };
}

async function start() {
  const f = fragment();
  watch.token = f.v || null;
  let info;
  try {
    info = await cs.api("GET", "/watch/" + watch.session + "/info", undefined, { quiet: true });
  } catch (e) {
    return status(e.status === 404 ? "This show is not on air." : e.message);
  }
  let url = null;
  if (watch.token && info.channel) {
    watch.channel = info.channel;
    url = "/sessions/" + watch.session + "/viewers/" + watch.token + "/index.m3u8";
  } else if (watch.token && f.room) {
    watch.channel = f.room;
    url = "/rooms/" + f.room + "/viewers/" + watch.token + "/index.m3u8";
  } else if (info.public_hls) {
    url = info.public_hls;
  }
  if (!url) return status("This show needs your viewer link.");
  cs.play(document.getElementById("video"), url);
  if (watch.token) {
    document.getElementById("actions").hidden = false;
    // A gift is paid on the platform's page; the payment reaches the service signed.
    if (info.gift_url) {
      const gift = document.getElementById("gift");
      gift.href = info.gift_url.replace("{channel}", encodeURIComponent(watch.channel)).replace("{token}", encodeURIComponent(watch.token));
      gift.hidden = false;
    }
    const v = await cs.api("GET", "/channels/" + watch.channel + "/viewers/" + watch.token, undefined, { quiet: true }).catch(() => null);
    if (v) showLevel(v);
  }
  if (info.poll) loadPoll(info.poll);
  follow();
}

document.getElementById("like").addEventListener("click", () => report("like"));
document.getElementById("comment").addEventListener("click", () => report("comment"));
start();
