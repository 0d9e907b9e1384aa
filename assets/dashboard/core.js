// What every page of the console shares: the admin token (typed once, kept in
// sessionStorage, never in a URL), calls of the admin API, values put in the
// page as text (never as HTML), and the views, chosen by the address's hash.
"use strict";

const API = "/sms-router/admin";
const TOKEN_KEY = "sms-router-admin-token";

export const $ = (id) => document.getElementById(id);

/// The token was refused: the console asks for it again.
export class Refused extends Error {}

/// The API refused a call: its status, its error code and its message, in
/// plain words.
export class ApiError extends Error {
  constructor(status, body) {
    super(body.message || "the server answered " + status);
    this.status = status;
    this.code = body.error || "";
  }

  /// The field the message names (the API writes it first, in backticks).
  get field() {
    const named = /^`([a-z_]+)`/.exec(this.message);
    return named ? named[1] : null;
  }
}

/// Calls the admin API; answers the parsed body (null for none). Throws
/// `Refused` for a 401 and `ApiError` for any other refusal.
export async function api(path, method = "GET", body = undefined) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, { message: "the server cannot be reached: is it running?" });
  }
  if (response.status === 401) {
    // The server says why: a wrong token, or none set on the server at all.
    const answer = await response.json().catch(() => ({}));
    throw new Refused(answer.message || "the admin token was refused");
  }
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

/// Every item of a paged list.
export async function all(path) {
  const items = [];
  let after = "";
  for (;;) {
    const joiner = path.includes("?") ? "&" : "?";
    const page = await api(path + joiner + "limit=500" + (after ? "&after=" + encodeURIComponent(after) : ""));
    items.push(...page.items);
    if (!page.next_cursor) return items;
    after = page.next_cursor;
  }
}

/// A new element, its text set as text.
export function text(parent, tag, value) {
  const element = document.createElement(tag);
  element.textContent = value === null || value === undefined ? "" : String(value);
  parent.appendChild(element);
  return element;
}

/// A link to a view of the console.
export function link(parent, label, hash) {
  const a = text(parent, "a", label);
  a.href = "#" + hash;
  return a;
}

/// A button that runs `action`, showing its refusal in `errors`.
export function button(parent, label, action, errors) {
  const b = text(parent, "button", label);
  b.type = "button";
  b.addEventListener("click", () => attempt(action, errors));
  return b;
}

/// A time as the API gives it, shortened to the minute, in UTC.
export function when(stamp) {
  return stamp ? stamp.replace("T", " ").replace(/:\d\d(\.\d+)?(Z|\+00:00)$/, "") + " UTC" : "";
}

/// Runs `action`; a refusal is shown next to the field it names inside
/// `place` (an element with `data-error-for` that field), or in the place's
/// own `.error` (a child of it), or else at the top of the page; a refused
/// token asks for the token again. What the user typed stays as it was.
export async function attempt(action, place) {
  for (const shown of place ? place.querySelectorAll("[data-error-for], .error") : []) shown.textContent = "";
  try {
    await action();
  } catch (e) {
    if (e instanceof Refused) return ask(e.message);
    const spot =
      (e.field && place?.querySelector(`[data-error-for="${e.field}"]`)) ||
      place?.querySelector(":scope > .error:not([data-error-for])");
    if (spot) {
      spot.textContent = e.message;
    } else {
      $("error").hidden = false;
      $("error").textContent = e.message;
    }
  }
}

const views = new Map();

/// Registers the view shown for `#name` or `#name/argument`.
export function view(name, show) {
  views.set(name, show);
}

function ask(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  for (const v of document.querySelectorAll(".view")) v.hidden = true;
  $("nav").hidden = true;
  $("forget").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
}

/// Shows the view the address names.
export async function route() {
  if (!sessionStorage.getItem(TOKEN_KEY)) return ask();
  const [name, ...rest] = (location.hash.slice(1) || "usage").split("/");
  const show = views.get(name) ? name : "usage";
  $("login").hidden = true;
  $("login-error").textContent = "";
  $("error").hidden = true;
  $("nav").hidden = false;
  $("forget").hidden = false;
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + show;
  for (const a of $("nav").querySelectorAll("a")) {
    if (a.getAttribute("href") === "#" + show) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.body.dataset.shown = "";
  await attempt(async () => {
    await views.get(show)(decodeURIComponent(rest.join("/")));
    document.body.dataset.shown = show;
  }, null);
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    route();
  });
  $("forget").addEventListener("click", () => ask());
  window.addEventListener("hashchange", route);
  route();
});
