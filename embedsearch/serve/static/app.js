// embedsearch's page: plain JavaScript over the JSON API (/v1). No framework, no build step, no CDN.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { store: null, stores: [], token: sessionStorage.getItem("embedsearch-token") || "", query: "" };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

class ApiError extends Error {
  constructor(body) { super(body.message); Object.assign(this, body); }
}

async function api(path, params = {}, method = "GET") {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const all = state.store ? { ...params, store: state.store } : params;
  let url = path, body;
  if (method === "GET") {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(all)) {
      if (value === undefined || value === null || value === "") continue;
      for (const item of Array.isArray(value) ? value : [value]) query.append(key, item);
    }
    url += "?" + query.toString();
  } else {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(all);
  }
  const response = await fetch(url, { method, headers, body });
  const data = await response.json().catch(() => ({ error: { status: response.status, message: response.statusText } }));
  if (response.status === 401) $("token-box").hidden = false;
  if (!response.ok) throw new ApiError(data.error || { status: response.status, message: response.statusText });
  return data;
}

function showError(error) {
  const box = $("error");
  box.replaceChildren(error.message || String(error));
  if (error.suggestions && error.suggestions.length) {
    box.append(" Try:");
    for (const word of error.suggestions) box.append(el("button", { class: "word", type: "button", onclick: () => navigate(word) }, word));
  }
  box.hidden = false;
}

function clearError() { $("error").hidden = true; $("error").replaceChildren(); }

function currentStore() { return state.stores.find((s) => s.name === state.store) || {}; }

// --- stores ---------------------------------------------------------------------------------------

async function loadStores() {
  const data = await api("/v1/stores");
  state.stores = data.stores;
  const picker = $("store");
  picker.replaceChildren(...data.stores.map((s) => el("option", { value: s.name }, s.name)));
  const wanted = new URLSearchParams(location.hash.slice(1)).get("store");
  const chosen = data.stores.find((s) => s.name === wanted) || data.stores.find((s) => s.default) || data.stores[0];
  state.store = chosen ? chosen.name : null;
  picker.value = state.store;
  $("store-picker").hidden = data.stores.length < 2;
  describeStore();
}

function describeStore() {
  const s = currentStore();
  $("store-info").textContent = s.words ? `${s.words.toLocaleString()} words × ${s.dim} dims · ${s.model || "?"}` : (s.status || "");
  $("rerank-box").hidden = !s.reranker;
  if (!s.reranker) $("rerank").checked = false;
}

// --- search ---------------------------------------------------------------------------------------

function navigate(query) {
  const params = new URLSearchParams({ q: query });
  if (state.store) params.set("store", state.store);
  const hash = "#" + params.toString();
  if (location.hash === hash) runFromHash();
  else location.hash = hash;
}

function runFromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const store = params.get("store");
  if (store && store !== state.store && state.stores.some((s) => s.name === store)) {
    state.store = store; $("store").value = store; describeStore();
  }
  const query = params.get("q");
  if (query) { $("q").value = query; search(query); }
}

function bar(score) {
  const inner = el("span");
  inner.style.width = Math.max(0, Math.min(1, score)) * 100 + "%";
  return el("div", { class: "bar" }, inner, el("em", {}, score.toFixed(4)));
}

function wordButton(word) {
  return el("button", { class: "word", type: "button", "data-word": word, onclick: () => { navigate(word); showExamples(word); } }, word);
}

async function search(query) {
  state.query = query;
  closeSuggest();
  const k = Math.max(1, Math.min(100, parseInt($("k").value, 10) || 10));
  const params = { q: query, k, map: true };
  if ($("rerank").checked) params.rerank = true;
  try {
    const result = await api("/v1/similar", params);
    if (state.query !== query) return; // a newer search went out meanwhile
    clearError();
    renderResults(result);
    renderMap(result.map);
  } catch (error) {
    if (state.query !== query) return;
    $("results-panel").hidden = true; $("map-panel").hidden = true;
    showError(error);
  }
}

function renderResults(result) {
  $("results-query").textContent = result.query;
  const reranked = !!result.rerank;
  const head = ["#", "word", reranked ? "final" : "cosine"].concat(reranked ? ["cosine", "fit"] : []);
  $("results").tHead.replaceChildren(el("tr", {}, ...head.map((h) => el("th", {}, h))));
  const rows = result.neighbors.map((n, i) => {
    const cells = [el("td", { class: "rank" }, i + 1), el("td", {}, wordButton(n.word)), el("td", { class: "score" }, bar(n.score))];
    if (reranked) cells.push(el("td", {}, n.cosine.toFixed(4)), el("td", {}, n.fit.toFixed(3)));
    return el("tr", { "data-word": n.word }, ...cells);
  });
  $("results").tBodies[0].replaceChildren(...rows);
  $("results-panel").hidden = false;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function renderMap(map) {
  const box = $("map");
  if (!map || map.points.length < 2) { $("map-panel").hidden = true; return; }
  const [width, height, pad, right] = [480, 360, 24, 110]; // room on the right for the labels
  const xs = map.points.map((p) => p.x), ys = map.points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / ((x1 - x0) || 1)) * (width - pad - right);
  const sy = (y) => height - pad - ((y - y0) / ((y1 - y0) || 1)) * (height - 2 * pad);
  const nodes = [];
  for (const p of map.points) {
    const cls = p.query ? "query" : "";
    const go = () => { if (!p.query) { navigate(p.word); showExamples(p.word); } };
    const dot = svg("circle", { cx: sx(p.x), cy: sy(p.y), r: p.query ? 5 : 3.5, class: cls });
    const label = svg("text", { x: sx(p.x) + 6, y: sy(p.y) + 4, class: cls, "data-word": p.word });
    label.textContent = p.word;
    dot.addEventListener("click", go); label.addEventListener("click", go);
    const title = svg("title", {}); title.textContent = p.query ? "the query" : `${p.word}: ${p.score.toFixed(4)}`;
    dot.append(title);
    nodes.push(dot, label);
  }
  box.replaceChildren(...nodes);
  const [a, b] = map.explained || [0, 0];
  $("map-note").textContent = `PCA of the unit vectors: ${(100 * a).toFixed(0)}% + ${(100 * b).toFixed(0)}% of the variance`;
  $("map-panel").hidden = false;
}

async function showExamples(word) {
  if (!currentStore().contexts) return;
  try {
    const result = await api("/v1/examples", { word, limit: 12 });
    $("examples-word").textContent = result.word;
    $("examples-note").textContent = `${result.examples.length} of ${result.sampled} kept`;
    $("examples").replaceChildren(...result.examples.map((e) =>
      el("li", {}, e.left.join(" ") + " ", el("mark", {}, e.word), " " + e.right.join(" "))));
    $("examples-panel").hidden = false;
  } catch (error) {
    $("examples-word").textContent = word;
    $("examples-note").textContent = error.message;
    $("examples").replaceChildren();
    $("examples-panel").hidden = false;
  }
}

// --- autocompletion -------------------------------------------------------------------------------

let suggestTimer = null, suggestSeq = 0;

function lastWord(text) {
  const match = /(\S+)$/.exec(text);
  return match && !/^[-+*]$/.test(match[1]) ? match[1] : "";
}

function closeSuggest() { $("suggest").hidden = true; $("suggest").replaceChildren(); }

function pick(word) {
  const input = $("q");
  input.value = input.value.replace(/(\S+)$/, word);
  closeSuggest();
  input.focus();
}

async function suggest() {
  const prefix = lastWord($("q").value);
  const seq = ++suggestSeq;
  if (!prefix) { closeSuggest(); return; }
  try {
    const page = await api("/v1/vocabulary", { prefix, limit: 8 });
    if (seq !== suggestSeq) return;
    const list = $("suggest");
    list.replaceChildren(...page.words.map((w) => el("li", { role: "option", "data-word": w, onmousedown: (ev) => { ev.preventDefault(); pick(w); } }, w)));
    list.hidden = page.words.length === 0;
  } catch (error) { closeSuggest(); }
}

function moveSelection(step) {
  const items = [...$("suggest").children];
  if (!items.length) return false;
  let index = items.findIndex((li) => li.getAttribute("aria-selected") === "true");
  items.forEach((li) => li.removeAttribute("aria-selected"));
  index = (index + step + items.length) % items.length;
  items[index].setAttribute("aria-selected", "true");
  return true;
}

// --- wiring ---------------------------------------------------------------------------------------

function wire() {
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const query = $("q").value.trim();
    if (query) navigate(query);
  });
  $("q").addEventListener("input", () => { clearTimeout(suggestTimer); suggestTimer = setTimeout(suggest, 120); });
  $("q").addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") { if (moveSelection(ev.key === "ArrowDown" ? 1 : -1)) ev.preventDefault(); }
    else if (ev.key === "Escape") closeSuggest();
    else if (ev.key === "Enter") {
      const chosen = $("suggest").querySelector('[aria-selected="true"]');
      if (chosen && !$("suggest").hidden) { ev.preventDefault(); pick(chosen.dataset.word); }
      else { clearTimeout(suggestTimer); suggestSeq++; closeSuggest(); }
    }
  });
  $("q").addEventListener("blur", () => setTimeout(closeSuggest, 150));
  $("store").addEventListener("change", () => {
    state.store = $("store").value;
    describeStore();
    $("examples-panel").hidden = true;
    const query = $("q").value.trim();
    if (query) navigate(query); else history.replaceState(null, "", "#store=" + encodeURIComponent(state.store));
  });
  $("rerank").addEventListener("change", () => { if (state.query) search(state.query); });
  $("analogy-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const params = { a: $("analogy-a").value.trim(), b: $("analogy-b").value.trim(), c: $("analogy-c").value.trim(),
                     method: $("analogy-method").value, k: 5 };
    try {
      const result = await api("/v1/analogy", params);
      clearError();
      $("analogy-results").replaceChildren(...result.neighbors.map((n) =>
        el("li", { "data-word": n.word }, wordButton(n.word), " ", el("span", { class: "muted" }, n.score.toFixed(4)))));
    } catch (error) { $("analogy-results").replaceChildren(); showError(error); }
  });
  $("sim-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const result = await api("/v1/similarity", { first: $("sim-first").value.trim(), second: $("sim-second").value.trim() });
      clearError();
      $("sim-result").textContent = result.score.toFixed(4);
    } catch (error) { $("sim-result").textContent = ""; showError(error); }
  });
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.token = $("token").value;
    sessionStorage.setItem("embedsearch-token", state.token);
    $("token-box").hidden = true;
    start();
  });
  window.addEventListener("hashchange", runFromHash);
}

async function start() {
  try {
    await loadStores();
    document.body.dataset.ready = "true";
    runFromHash();
  } catch (error) { showError(error); }
}

wire();
start();
