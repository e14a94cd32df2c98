// The console's shell: sign-in (a token given once becomes the signed HttpOnly cookie), the pages
// by their #hash, and the live events that update the page shown.
"use strict";

const app = { me: null, page: null, events: null };

function signInPage(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("who").textContent = "";
  const err = cs.el("p", { id: "signin-error", class: "error", role: "alert" }, message || "");
  const form = cs.el("form", { id: "signin", class: "card narrow" },
    cs.el("h1", {}, "Sign in"),
    cs.el("label", {}, "API token (operator or anchor)",
      cs.el("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true })),
    cs.el("button", { type: "submit" }, "Sign in"),
    err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    await signIn(form.token.value.trim());
  });
  document.getElementById("main").replaceChildren(form);
}

async function signIn(token) {
  try {
    app.me = await cs.api("POST", "/console/signin", { token }, { quiet: true });
    cs.csrf = app.me.csrf;
    if (!location.hash || location.hash.startsWith("#token=")) history.replaceState(null, "", "#rooms");
    started();
  } catch (e) {
    signInPage(e.message);
  }
}

function started() {
  cs.onUnauthorized = (msg) => signedOut(msg + " — sign in again.");
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
  const who = app.me.role === "operator" ? "operator" : "anchor of " + app.me.room;
  document.getElementById("who").textContent = "Signed in as " + who;
  if (!app.events) app.events = cs.events((e) => app.page && app.page.onEvent && app.page.onEvent(e));
  route();
}

// The page named by the hash: #rooms, #session/<id>, ...
function route() {
  if (!app.me) return;
  const [name, arg] = (location.hash.slice(1) || "rooms").split("/");
  const pages = consolePages();
  const make = pages[name] || pages.rooms;
  if (app.page && app.page.leave) app.page.leave();
  const main = document.getElementById("main");
  main.replaceChildren();
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.getAttribute("href") === "#" + name);
  app.page = make(main, arg);
}

function consolePages() {
  return {
    rooms: roomsPage,
    sessions: sessionsPage,
    session: sessionPage,
    audience: audiencePage,
    masking: maskingPage,
    service: servicePage,
  };
}

function signedOut(message) {
  app.me = null;
  cs.csrf = null;
  cs.onUnauthorized = null;
  if (app.page && app.page.leave) app.page.leave();
  app.page = null;
  if (app.events) { app.events.close(); app.events = null; }
  signInPage(message);
}

async function boot() {
  document.getElementById("signout").addEventListener("click", async () => {
    await cs.api("POST", "/console/signout").catch(() => {});
    signedOut("Signed out.");
  });
  window.addEventListener("hashchange", route);
  // A link with the token in its fragment (never sent to a server) signs in at once.
  if (location.hash.startsWith("#token=")) return signIn(decodeURIComponent(location.hash.slice(7)));
  try {
    app.me = await cs.api("GET", "/console/me", undefined, { quiet: true });
    cs.csrf = app.me.csrf;
    started();
  } catch (e) {
    signInPage(e.status === 401 ? "" : e.message);
  }
}

boot();
