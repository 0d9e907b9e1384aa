// The console's views of users, their numbers, a number's last messages,
// opt-outs and settings. Everything goes through the admin API; its refusals
// are shown next to the field or action they concern.
"use strict";

import { $, all, api, attempt, button, link, text, view, when } from "./core.js";

const REASONS = {
  routed: "would reach its user's agent",
  unknown_user: "nobody has this number: it would get the reply to strangers",
  inactive_user: "its user is deactivated: it would get the reply to inactive users",
  opted_out: "it opted out: it gets nothing until it texts START",
  rate_limited: "it sent too many messages just now: it would get nothing for a while",
};

/// Names each cell of `table` by its column's heading: on a phone, where
/// each row is shown as a card, a cell says what it is.
function labelled(table) {
  const headings = [...table.tHead.rows[0].cells].map((th) => th.textContent);
  for (const row of table.tBodies[0].rows) {
    if (row.cells.length !== headings.length) continue;
    [...row.cells].forEach((cell, i) => (cell.dataset.label = headings[i]));
  }
}

/// The fields of `form` as the API wants them: an empty field is left out.
function values(form) {
  const body = {};
  for (const [name, value] of new FormData(form)) {
    if (typeof value === "string" && value.trim() !== "") body[name] = value.trim();
  }
  return body;
}

/// An in-page question before something that cannot be undone: `question`
/// names what goes; `yes` runs only when confirmed.
function confirmThen(place, question, yesLabel, yes) {
  const box = document.createElement("div");
  box.className = "confirm";
  box.setAttribute("role", "alertdialog");
  const asked = text(box, "p", question);
  asked.id = "confirm-" + Math.random().toString(36).slice(2);
  box.setAttribute("aria-labelledby", asked.id);
  const errors = text(box, "p", "");
  errors.className = "error";
  errors.setAttribute("role", "alert");
  const go = button(box, yesLabel, yes, box);
  go.className = "danger";
  button(box, "Cancel", async () => box.remove(), box);
  place.querySelector(".confirm")?.remove();
  place.appendChild(box);
  go.focus();
}

// Users.

let usersAfter = null;

function searchQuery() {
  const wanted = $("search").value.trim();
  if (!wanted) return "";
  // Digits and the signs of a number: a number; anything else: a name.
  return /^[+\d\s().-]{3,}$/.test(wanted) && /\d{3}/.test(wanted.replace(/\D/g, ""))
    ? "phone_number=" + encodeURIComponent(wanted)
    : "name=" + encodeURIComponent(wanted);
}

async function listUsers(more) {
  const query = searchQuery();
  const page = await api("/users?limit=50" + (query ? "&" + query : "") + (more && usersAfter ? "&after=" + encodeURIComponent(usersAfter) : ""));
  const body = $("users").tBodies[0];
  if (!more) body.replaceChildren();
  for (const user of page.items) {
    const row = body.insertRow();
    link(row.insertCell(), user.full_name, "user/" + user.id);
    text(row, "td", user.phone_number ?? "");
    text(row, "td", user.is_active ? "active" : "deactivated");
  }
  if (body.rows.length === 0) {
    const row = body.insertRow();
    const cell = text(row, "td", query ? "Nobody matches." : "No users yet: add one below.");
    cell.colSpan = 3;
  }
  usersAfter = page.next_cursor;
  $("users-more").hidden = !usersAfter;
  $("users").dataset.query = query;
}

view("users", () => listUsers(false));

document.addEventListener("DOMContentLoaded", () => {
  $("user-search").addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(() => listUsers(false), $("user-search"));
  });
  $("users-more").addEventListener("click", () => attempt(() => listUsers(true), $("view-users")));
  $("user-new").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    attempt(async () => {
      const body = values(form);
      body.is_active = form.elements.is_active.checked;
      const user = await api("/users", "POST", body);
      form.reset();
      location.hash = "user/" + user.id;
    }, form);
  });
});

// One user, and their numbers.

let shownUser = null;

function fillUserForm(user) {
  const form = $("user-edit");
  form.elements.full_name.value = user.full_name;
  form.elements.email.value = user.email ?? "";
  form.elements.phone_number.value = user.phone_number ?? "";
  form.elements.is_active.checked = user.is_active;
  form.elements.agent_url.value = user.agent_url ?? "";
  form.elements.agent_token.value = "";
  form.elements.agent_token.placeholder = user.has_agent_token ? "set (type to replace it)" : "none";
  form.elements.clear_token.checked = false;
  $("user-title").textContent = user.full_name;
  $("user-state").textContent = user.is_active ? "Active." : "Deactivated: their messages get the reply to inactive users.";
  $("user-toggle").textContent = user.is_active ? "Deactivate" : "Activate";
}

async function showUser(id) {
  shownUser = await api("/users/" + encodeURIComponent(id));
  fillUserForm(shownUser);
  $("user-delete-place").replaceChildren();
  await listNumbers();
}

async function listNumbers() {
  const phones = await all("/users/" + shownUser.id + "/phones");
  const body = $("numbers").tBodies[0];
  body.replaceChildren();
  if (shownUser.phone_number) {
    const row = body.insertRow();
    link(row.insertCell(), shownUser.phone_number, "number/" + shownUser.phone_number);
    text(row, "td", "their number");
    text(row, "td", "");
    row.insertCell();
  }
  for (const phone of phones) {
    const row = body.insertRow();
    link(row.insertCell(), phone.phone_number, "number/" + phone.phone_number);
    text(row, "td", phone.is_primary ? "extra, primary" : "extra");
    text(row, "td", phone.is_verified ? "verified" + (phone.verification_method ? " (" + phone.verification_method + ")" : "") : "not verified");
    const actions = row.insertCell();
    actions.className = "actions";
    const errors = text(actions, "p", "");
    errors.className = "error";
    errors.setAttribute("role", "alert");
    if (!phone.is_verified) {
      button(actions, "Text a code", async () => {
        await api("/phones/" + phone.id + "/verification", "POST");
        codeForm(actions, phone);
      }, actions);
    }
    button(actions, "Remove…", async () => {
      confirmThen(actions, "Remove " + phone.phone_number + " from " + shownUser.full_name + "?", "Remove", async () => {
        await api("/phones/" + phone.id, "DELETE");
        await listNumbers();
      });
    }, actions);
  }
  if (body.rows.length === 0) {
    const cell = text(body.insertRow(), "td", "No number yet.");
    cell.colSpan = 4;
  }
  labelled($("numbers"));
}

/// Where the code texted to `phone` is typed.
function codeForm(place, phone) {
  place.querySelector("form")?.remove();
  const form = document.createElement("form");
  form.className = "code";
  const label = text(form, "label", "Code texted to " + phone.phone_number);
  const input = document.createElement("input");
  input.name = "code";
  input.id = "code-" + phone.id;
  input.inputMode = "numeric";
  input.autocomplete = "one-time-code";
  label.htmlFor = input.id;
  form.appendChild(input);
  const submit = text(form, "button", "Confirm");
  submit.type = "submit";
  const errors = text(form, "p", "");
  errors.className = "error";
  errors.setAttribute("role", "alert");
  errors.dataset.errorFor = "code";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(async () => {
      await api("/phones/" + phone.id + "/verification/confirm", "POST", { code: input.value.trim() });
      await listNumbers();
    }, form);
  });
  place.appendChild(form);
  input.focus();
}

view("user", showUser);

document.addEventListener("DOMContentLoaded", () => {
  $("user-edit").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    attempt(async () => {
      const body = {
        full_name: form.elements.full_name.value.trim(),
        is_active: form.elements.is_active.checked,
      };
      const clear = [];
      for (const name of ["email", "phone_number", "agent_url"]) {
        const value = form.elements[name].value.trim();
        if (value) body[name] = value;
        else if (shownUser[name]) clear.push(name);
      }
      const token = form.elements.agent_token.value;
      if (token) body.agent_token = token;
      else if (form.elements.clear_token.checked) clear.push("agent_token");
      if (clear.length) body.clear = clear;
      shownUser = await api("/users/" + shownUser.id, "PATCH", body);
      fillUserForm(shownUser);
      await listNumbers();
      $("user-saved").textContent = "Saved.";
    }, form);
  });
  $("user-toggle").addEventListener("click", () =>
    attempt(async () => {
      shownUser = await api("/users/" + shownUser.id, "PATCH", { is_active: !shownUser.is_active });
      fillUserForm(shownUser);
    }, $("user-actions"))
  );
  $("user-delete").addEventListener("click", () =>
    confirmThen(
      $("user-delete-place"),
      "Delete " + shownUser.full_name + "? Their numbers go; their messages stay in the log without a name.",
      "Delete " + shownUser.full_name,
      async () => {
        await api("/users/" + shownUser.id, "DELETE");
        location.hash = "users";
      }
    )
  );
  $("phone-new").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    attempt(async () => {
      const body = values(form);
      body.is_primary = form.elements.is_primary.checked;
      await api("/users/" + shownUser.id + "/phones", "POST", body);
      form.reset();
      await listNumbers();
    }, form);
  });
});

// A number's last messages.

view("number", async (number) => {
  $("number-title").textContent = number;
  const lookup = await api("/lookup?phone_number=" + encodeURIComponent(number));
  const owner = lookup.user ? lookup.user.full_name + "'s number" : "nobody's number";
  $("number-owner").replaceChildren();
  if (lookup.user) link($("number-owner"), owner, "user/" + lookup.user.id);
  else $("number-owner").textContent = owner;
  $("number-next").textContent = "Its next ordinary message: " + (REASONS[lookup.reason] || lookup.reason) + ".";
  $("number-next").dataset.reason = lookup.reason;
  const page = await api("/usage-logs?limit=50&phone_number=" + encodeURIComponent(number));
  const body = $("timeline").tBodies[0];
  body.replaceChildren();
  for (const row of page.items) {
    const tr = body.insertRow();
    const cells = [
      when(row.created_at),
      row.direction === "inbound" ? "in" : "out",
      row.outcome.replaceAll("_", " "),
      row.segments,
      row.processing_time_ms === null || row.processing_time_ms === undefined ? "" : row.processing_time_ms + " ms",
      row.delivery_status ?? "",
      [row.error_message, row.error_code ? "Twilio error " + row.error_code : null].filter(Boolean).join(" · "),
    ];
    for (const value of cells) text(tr, "td", value);
  }
  labelled($("timeline"));
  if (page.items.length === 0) {
    const cell = text(body.insertRow(), "td", "No message from or to this number yet.");
    cell.colSpan = 7;
  }
});

// Opt-outs.

view("opt-outs", async () => {
  const optOuts = await all("/opt-outs");
  const body = $("opt-outs").tBodies[0];
  body.replaceChildren();
  for (const optOut of optOuts) {
    const row = body.insertRow();
    link(row.insertCell(), optOut.phone_number, "number/" + optOut.phone_number);
    text(row, "td", when(optOut.opted_out_at));
    const actions = row.insertCell();
    actions.className = "actions";
    const errors = text(actions, "p", "");
    errors.className = "error";
    errors.setAttribute("role", "alert");
    button(actions, "Clear…", async () =>
      confirmThen(
        actions,
        "Clear the opt-out of " + optOut.phone_number + "? Only if its owner asked: they will be answered and texted again.",
        "Clear it",
        async () => {
          await api("/opt-outs/" + encodeURIComponent(optOut.phone_number), "DELETE");
          row.remove();
        }
      ), actions);
  }
  if (optOuts.length === 0) {
    const cell = text(body.insertRow(), "td", "No number has opted out.");
    cell.colSpan = 3;
  }
  labelled($("opt-outs"));
});

// Settings.

view("settings", async () => {
  const settings = await api("/configs");
  const place = $("settings-list");
  place.replaceChildren();
  for (const setting of settings.items) {
    const form = document.createElement("form");
    form.className = "fields setting";
    form.dataset.key = setting.key;
    const long = setting.default_value.length > 20;
    const input = document.createElement(long ? "textarea" : "input");
    input.name = "value";
    input.id = "setting-" + setting.key;
    input.value = setting.value;
    const label = text(form, "label", setting.key.replaceAll("_", " "));
    label.htmlFor = input.id;
    form.appendChild(input);
    const rule = text(form, "p", "Rule: it " + setting.rule + ". Default: “" + setting.default_value + "”");
    rule.className = "hint";
    rule.id = input.id + "-rule";
    input.setAttribute("aria-describedby", rule.id);
    const errors = text(form, "p", "");
    errors.className = "error";
    errors.setAttribute("role", "alert");
    errors.dataset.errorFor = "value";
    const state = text(form, "p", setting.is_default ? "The default applies." : "Changed " + when(setting.updated_at) + ".");
    state.className = "hint";
    const actions = document.createElement("div");
    actions.className = "actions";
    form.appendChild(actions);
    const save = text(actions, "button", "Save");
    save.type = "submit";
    button(actions, "Use the default", async () => {
      const now = await api("/configs/" + setting.key, "DELETE").then(() => api("/configs/" + setting.key));
      input.value = now.value;
      state.textContent = "The default applies.";
    }, form);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(async () => {
        const now = await api("/configs/" + setting.key, "PUT", { value: input.value });
        input.value = now.value;
        state.textContent = "Saved.";
      }, form);
    });
    place.appendChild(form);
  }
});

