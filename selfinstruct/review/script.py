"""The review pages' script: create a review, rate items one at a time with the keyboard, show the summary.

Our own code, no libraries, inlined into the page (the page's Content-Security-Policy
allows exactly this script, by hash). Data from the server is only ever set as text
(``textContent``), never as HTML. It reads the page's ``#review-app`` element:
``data-page`` ("reviews" or "rate") and, on the rate page, ``data-review``.
"""

__all__ = ["SCRIPT"]

SCRIPT = """
"use strict";

async function api(method, path, body) {
  const init = {method, headers: {"Accept": "application/json"}, credentials: "same-origin"};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error || (method + " " + path + ": HTTP " + resp.status));
  return data;
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---------------------------------------------------------------- the list page: create a review
function listPage() {
  const form = document.getElementById("create");
  const status = document.getElementById("create-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = new FormData(form);
    status.className = "status";
    status.textContent = "Sampling...";
    try {
      const review = await api("POST", "/jobs/" + encodeURIComponent(f.get("job")) + "/reviews",
        {size: Number(f.get("size")), seed: Number(f.get("seed")), template: f.get("template")});
      location.href = "/reviews/" + encodeURIComponent(review.id) + "/rate";
    } catch (err) {
      status.className = "status error";
      status.textContent = err.message;
    }
  });
}

// ---------------------------------------------------------------- the rate page
const state = {review: null, rater: "", index: 0, current: 0, answers: {}, saved: {}};

function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
function pct(x) { return x === null || x === undefined ? "n/a" : (100 * x).toFixed(1) + "%"; }
function kappa(x) { return x === null || x === undefined ? "n/a" : x.toFixed(3); }

function renderSummary(s) {
  const box = document.getElementById("summary");
  box.replaceChildren();
  const names = state.review.criteria.map((c) => c.name);
  box.append(el("p", {id: "summary-counts"},
    plural(s.items_rated, "item") + " rated, " + plural(s.ratings, "rating") + " by " +
    plural(s.raters.length, "rater") +
    (s.raters.length ? ": " + s.raters.join(", ") : "")));
  const table = el("table", {id: "summary-criteria"});
  const head = el("tr");
  for (const h of ["criterion", "pass rate", "95% interval", "items"]) head.append(el("th", {}, h));
  table.append(head);
  const addRow = (name, rate, ci, n) => {
    const tr = el("tr", {"data-criterion": name});
    tr.append(el("td", {}, name), el("td", {class: "pass-rate"}, pct(rate)),
      el("td", {class: "ci"}, ci ? pct(ci[0]) + " to " + pct(ci[1]) : "n/a"), el("td", {class: "n"}, String(n)));
    table.append(tr);
  };
  for (const name of names) {
    const c = s.criteria[name];
    addRow(name, c.pass_rate, c.ci, c.n);
  }
  addRow("all criteria valid", s.all_valid_rate, s.all_valid_ci, s.items_rated);
  box.append(table);
  const kappas = [["Cohen's kappa", s.cohen_kappa, s.cohen_n, "cohen"]];
  if (s.fleiss_kappa) {
    kappas.push(["Fleiss' kappa", {"all raters": s.fleiss_kappa}, {"all raters": s.fleiss_n}, "fleiss"]);
  }
  for (const [title, byPair, counts, id] of kappas) {
    const pairs = Object.keys(byPair);
    if (!pairs.length) {
      box.append(el("p", {id: id + "-none", class: "muted"}, title + ": needs two raters on the same items."));
      continue;
    }
    box.append(el("h3", {}, title));
    const t = el("table", {id: id + "-kappa"});
    const hr = el("tr");
    for (const h of ["raters", "items", ...names]) hr.append(el("th", {}, h));
    t.append(hr);
    for (const pair of pairs) {
      const tr = el("tr", {"data-pair": pair});
      tr.append(el("td", {}, pair.replace("|", " & ")), el("td", {}, String(counts[pair])));
      for (const name of names) tr.append(el("td", {"data-criterion": name}, kappa(byPair[pair][name])));
      t.append(tr);
    }
    box.append(t);
  }
}

async function refreshSummary() {
  try {
    renderSummary(await api("GET", "/reviews/" + encodeURIComponent(state.review.id) + "/summary"));
  } catch (err) {
    document.getElementById("summary").textContent = err.message;
  }
}

function item() { return state.review.items[state.index]; }

function setStatus(text, isError) {
  const status = document.getElementById("status");
  status.className = isError ? "status error" : "status";
  status.textContent = text;
}

function renderItem() {
  const it = item();
  const total = state.review.items.length;
  document.getElementById("position").textContent = "Item " + (state.index + 1) + " of " + total;
  document.getElementById("item-id").textContent = it.id;
  const done = Object.keys(state.saved).length;
  document.getElementById("done").textContent = "· " + done + " of " + total + " rated by " + state.rater;
  for (const key of ["instruction", "input", "output"]) document.getElementById(key).textContent = it[key];
  const saved = state.saved[it.id];
  state.answers = saved ? {...saved.answers} : {};
  document.getElementById("note").value = saved ? saved.note : "";
  state.current = 0;
  renderCriteria();
}

function renderCriteria() {
  const box = document.getElementById("criteria");
  box.replaceChildren();
  state.review.criteria.forEach((c, i) => {
    const row = el("div", {class: "crit" + (i === state.current ? " current" : ""), "data-criterion": c.name});
    row.append(el("span", {class: "q"}, c.question));
    const choices = c.scale === "yes_no" ? [[true, "Yes (y)"], [false, "No (n)"]]
      : [1, 2, 3, 4, 5].map((v) => [v, String(v)]);
    for (const [value, label] of choices) {
      const b = el("button", {type: "button", "data-value": String(value)}, label);
      if (state.answers[c.name] === value) b.classList.add("on");
      b.addEventListener("click", () => answer(i, value));
      row.append(b);
    }
    box.append(row);
  });
}

function answer(i, value) {
  state.answers[state.review.criteria[i].name] = value;
  const next = state.review.criteria.findIndex((c, j) => j > i && !(c.name in state.answers));
  state.current = next >= 0 ? next : Math.min(i + 1, state.review.criteria.length - 1);
  renderCriteria();
}

function complete() { return state.review.criteria.every((c) => c.name in state.answers); }

async function saveAndNext() {
  const it = item();
  if (!complete()) {
    const missing = state.review.criteria.find((c) => !(c.name in state.answers));
    state.current = state.review.criteria.indexOf(missing);
    renderCriteria();
    setStatus("Answer every criterion first (missing: " + missing.name + ").", true);
    return;
  }
  const note = document.getElementById("note").value;
  try {
    await api("POST", "/reviews/" + encodeURIComponent(state.review.id) + "/ratings",
      {rater: state.rater, item: it.id, answers: state.answers, note});
  } catch (err) {
    setStatus(err.message, true);
    return;
  }
  state.saved[it.id] = {answers: {...state.answers}, note};
  setStatus("Saved item " + (state.index + 1) + ".", false);
  if (state.index < state.review.items.length - 1) state.index += 1;
  renderItem();
  refreshSummary();
}

function back() {
  if (state.index > 0) {
    state.index -= 1;
    setStatus("", false);
    renderItem();
  }
}

function onKey(event) {
  if (document.getElementById("rating").hidden || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.tagName === "TEXTAREA" || target.tagName === "INPUT") {
    if (event.key === "Escape") target.blur();
    return;
  }
  const c = state.review.criteria[state.current];
  const key = event.key;
  let handled = true;
  if (c.scale === "yes_no" && (key === "y" || key === "n")) answer(state.current, key === "y");
  else if (c.scale === "1-5" && "12345".includes(key) && key.length === 1) answer(state.current, Number(key));
  else if (key === "ArrowDown" || key === "ArrowUp") {
    const last = state.review.criteria.length - 1;
    state.current = Math.max(0, Math.min(last, state.current + (key === "ArrowDown" ? 1 : -1)));
    renderCriteria();
  }
  else if (key === "Enter" || key === "ArrowRight") saveAndNext();
  else if (key === "ArrowLeft") back();
  else handled = false;
  if (handled) event.preventDefault();
}

async function start(rater) {
  state.rater = rater;
  localStorage.setItem("selfinstruct-rater", rater);
  const mine = await api("GET", "/reviews/" + encodeURIComponent(state.review.id) + "/ratings?rater=" +
    encodeURIComponent(rater));
  state.saved = {};
  for (const r of mine.ratings) state.saved[r.item] = {answers: r.answers, note: r.note};
  const first = state.review.items.findIndex((it) => !(it.id in state.saved));
  state.index = first >= 0 ? first : 0;
  document.getElementById("rating").hidden = false;
  document.activeElement.blur();
  renderItem();
}

async function ratePage() {
  // Handlers are attached before the review arrives, so an early Enter never submits the form natively.
  const loaded = api("GET", "/reviews/" + encodeURIComponent(app.dataset.review)).then((review) => {
    state.review = review;
  });
  const form = document.getElementById("rater-form");
  const input = document.getElementById("rater");
  input.value = localStorage.getItem("selfinstruct-rater") || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (name) loaded.then(() => start(name)).catch((err) => setStatus(err.message, true));
  });
  document.getElementById("next").addEventListener("click", saveAndNext);
  document.getElementById("back").addEventListener("click", back);
  document.addEventListener("keydown", onKey);
  await loaded;
  refreshSummary();
}

const app = document.getElementById("review-app");
if (app.dataset.page === "reviews") listPage();
if (app.dataset.page === "rate") {
  ratePage().catch((err) => { document.getElementById("summary").textContent = err.message; });
}
"""
