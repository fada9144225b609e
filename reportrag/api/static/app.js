// The reportrag search page: plain JavaScript, no dependencies, no build step.
// Passage text comes from the corpus and is untrusted: it reaches the DOM only as text nodes
// (textContent / createTextNode), never parsed as markup. The CSP forbids inline scripts too.
"use strict";

const KEY_STORAGE = "reportrag.readKey";
const TOP_K = 10;
const NEIGHBORS = 2;
const LANG_NAMES = { en: "English", zh: "中文", de: "Deutsch" };
const PAGE_MODES = ["auto", "dense", "hybrid"]; // the ones offered to people, when supported
const STOPWORDS = new Set(
  ("a an and are as at be by can could did do does for from had has have how i in is it its " +
    "of on or that the their this to was were what when where which who why will with would " +
    "der die das den dem des und oder ist sind ein eine einer mit von zu im in für wie was " +
    "wer auf bei nicht es sich")
    .split(" "),
);

const state = {
  modes: ["auto", "dense"], // replaced by what /readyz reports
  docs: [],
  seq: 0, // only the newest request may paint: answers to older ones are dropped
  ready: false,
  meta: "", // the metadata filter of the URL (JSON text), kept until removed
};
const JOB_POLL_MS = 700;
const UPLOAD_TYPES = [".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"];

const $ = (id) => document.getElementById(id);

// ---- API ----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

function readKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return ""; // storage disabled: the page still works on servers without a read key
  }
}

function storeKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage disabled: nothing to keep */
  }
}

async function api(path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const key = readKey();
  if (key) headers["X-API-Key"] = key;
  let resp;
  try {
    resp = await fetch(path, {
      method: body === undefined ? "GET" : "POST",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network_error", "The server could not be reached. Is it running?");
  }
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null; // not JSON (a proxy's error page, say): reported by status below
  }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(
      resp.status,
      err.code || "http_error",
      err.message || `The server answered ${resp.status} ${resp.statusText}`.trim(),
      err.details,
    );
  }
  return data;
}

// ---- URL <-> controls ---------------------------------------------------------------------

function readUrl() {
  const p = new URLSearchParams(location.search);
  return {
    q: p.get("q") || "",
    lang: p.get("lang") || "",
    mode: p.get("mode") || "auto",
    doc: p.get("doc") || "",
    section: p.get("section") || "",
    chunk: p.get("chunk") || "",
    meta: p.get("meta") || "",
  };
}

function urlFor(s) {
  const p = new URLSearchParams();
  if (s.q) p.set("q", s.q);
  if (s.lang) p.set("lang", s.lang);
  if (s.mode && s.mode !== "auto") p.set("mode", s.mode);
  if (s.doc) p.set("doc", s.doc);
  if (s.section) p.set("section", s.section);
  if (s.chunk) p.set("chunk", s.chunk);
  if (s.meta) p.set("meta", s.meta);
  const qs = p.toString();
  return qs ? `/?${qs}` : "/";
}

function setUrl(s, push) {
  const url = urlFor(s);
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

function controls() {
  const pressed = (group) => document.querySelector(`#${group} [aria-pressed="true"]`);
  const chip = pressed("lang-chips");
  const mode = pressed("modes");
  return {
    q: $("q").value.trim(),
    lang: chip ? chip.dataset.lang : "",
    mode: mode ? mode.dataset.mode : "auto",
    doc: $("doc").value,
    section: $("section").disabled ? "" : $("section").value,
    chunk: "",
    meta: state.meta,
  };
}

function showMeta(meta) {
  state.meta = meta;
  $("meta-filter").hidden = !meta;
  $("meta-filter-text").textContent = meta;
}

function press(group, attr, value) {
  let found = false;
  for (const b of document.querySelectorAll(`#${group} button`)) {
    const on = b.dataset[attr] === value;
    b.setAttribute("aria-pressed", String(on));
    found = found || on;
  }
  return found;
}

function restoreControls(s) {
  $("q").value = s.q;
  if (!press("lang-chips", "lang", s.lang)) press("lang-chips", "lang", "");
  if (!press("modes", "mode", s.mode)) press("modes", "mode", "auto");
  const doc = state.docs.some((d) => d.doc_id === s.doc) ? s.doc : "";
  $("doc").value = doc;
  fillSections(doc, s.section);
  showMeta(s.meta);
}

// ---- filters: documents, sections, modes --------------------------------------------------

function option(value, label) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  return o;
}

function fillDocs(docs) {
  state.docs = docs;
  const sel = $("doc");
  sel.replaceChildren(option("", "All documents"));
  for (const d of docs) {
    const langs = Object.keys(d.langs || {}).join(", ");
    sel.append(option(d.doc_id, `${d.title || d.doc_id} (${langs})`));
  }
}

// The top-level sections of the chosen document, or of every document when none is chosen.
function fillSections(docId, wanted) {
  const sel = $("section");
  sel.replaceChildren(option("", "All sections"));
  const docs = docId ? state.docs.filter((d) => d.doc_id === docId) : state.docs;
  const sections = [...new Set(docs.flatMap((d) => d.sections || []))];
  // A shared link may name a section prefix that is not a top-level heading: keep it.
  if (wanted && !sections.includes(wanted)) sections.push(wanted);
  for (const s of sections) sel.append(option(s, s));
  sel.disabled = !sections.length;
  sel.value = wanted || "";
}

function fillModes(modes) {
  state.modes = modes;
  const box = $("modes");
  box.replaceChildren();
  for (const m of PAGE_MODES.filter((x) => modes.includes(x))) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "seg";
    b.dataset.mode = m;
    b.textContent = m;
    b.setAttribute("aria-pressed", String(m === "auto"));
    box.append(b);
  }
}

// ---- highlighting -------------------------------------------------------------------------

function queryTerms(query) {
  const terms = new Set();
  for (const [run] of query.matchAll(/\p{Script=Han}+/gu)) {
    if (run.length <= 2) terms.add(run);
    // Chinese has no spaces: any two adjacent characters of the query count as a term.
    else for (let i = 0; i + 2 <= run.length; i++) terms.add(run.slice(i, i + 2));
  }
  const words = query.replace(/\p{Script=Han}+/gu, " ");
  for (const [w] of words.matchAll(/[\p{L}\p{N}]+(?:[-.,'’][\p{L}\p{N}]+)*/gu)) {
    const t = w.toLowerCase();
    if (STOPWORDS.has(t) || (t.length < 2 && !/\p{N}/u.test(t))) continue;
    terms.add(t);
  }
  return [...terms];
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function matchRanges(text, terms) {
  const ranges = [];
  for (const t of terms) {
    // Latin terms match at word starts ("model" finds "models", "ai" skips "said").
    const head = /^\p{Script=Han}/u.test(t) ? "" : "(?<![\\p{L}\\p{N}])";
    const re = new RegExp(head + escapeRegExp(t), "giu");
    for (const m of text.matchAll(re)) ranges.push([m.index, m.index + m[0].length]);
  }
  ranges.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const merged = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

// Appends ``text`` to ``parent`` as text nodes, with <mark> around the query's terms.
function appendHighlighted(parent, text, terms) {
  let at = 0;
  for (const [start, end] of matchRanges(text, terms)) {
    if (start > at) parent.append(document.createTextNode(text.slice(at, start)));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(start, end);
    parent.append(mark);
    at = end;
  }
  if (at < text.length) parent.append(document.createTextNode(text.slice(at)));
}

// ---- views --------------------------------------------------------------------------------

// ``body[data-state]`` says what the page shows (starting, loading, intro, results, empty,
// context, error): styles and the browser tests read it.
function show(view) {
  for (const id of ["intro", "empty", "results", "context"]) $(id).hidden = id !== view;
  document.body.dataset.state = view || "error";
}

function setLoading(on) {
  $("loading").hidden = !on;
  if (on) document.body.dataset.state = "loading";
  $("results").setAttribute("aria-busy", String(on));
  $("search-button").disabled = on;
}

function clearError() {
  $("error").hidden = true;
}

function showError(err) {
  const box = $("error");
  let title = `Error ${err.status || ""}`.trim() + ` · ${err.code}`;
  let message = err.message;
  if (err.status === 401) {
    title = "An API key is needed";
    message =
      (readKey() ? "The key in use was refused. " : "This server requires a read key. ") +
      "Enter it under “API key” at the top of the page; it is kept for this tab only.";
    $("key-panel").open = true;
    $("key-input").focus();
  }
  $("error-title").textContent = title;
  $("error-message").textContent = message;
  box.dataset.status = String(err.status);
  box.dataset.code = err.code;
  box.hidden = false;
  document.body.dataset.state = "error";
  $("status").textContent = "";
}

function langBadge(el, lang) {
  el.textContent = lang || "?";
  el.title = LANG_NAMES[lang] || lang;
  el.dataset.lang = lang;
}

function passageText(text, lang, terms) {
  const box = document.createElement("div");
  box.className = "passage-text";
  box.lang = lang;
  // Chunks keep the source's line breaks (often blank lines): one paragraph per line.
  for (const line of text.split(/\n+/)) {
    if (!line.trim()) continue;
    const p = document.createElement("p");
    appendHighlighted(p, line, terms);
    box.append(p);
  }
  return box;
}

function counterpartBlock(cp, terms) {
  const box = document.createDocumentFragment();
  const head = document.createElement("div");
  head.className = "cp-head";
  const badge = document.createElement("span");
  badge.className = "badge lang-badge";
  langBadge(badge, cp.lang);
  const meta = document.createElement("span");
  meta.textContent = `aligned passage · ${Math.round(cp.confidence * 100)}% confidence`;
  head.append(badge, meta);
  box.append(head, passageText(cp.text, cp.lang, terms));
  return box;
}

function contextHref(chunkId) {
  return urlFor({ ...readUrl(), chunk: chunkId });
}

function hitCard(hit, terms) {
  const node = $("tpl-hit").content.firstElementChild.cloneNode(true);
  node.dataset.chunkId = hit.chunk_id;
  node.dataset.docId = hit.doc_id;
  node.dataset.lang = hit.lang;
  langBadge(node.querySelector(".lang-badge"), hit.lang);
  node.querySelector(".hit-title").textContent = hit.title || hit.doc_id;
  const score = node.querySelector(".score");
  score.textContent = `score ${hit.score.toFixed(4)}`;
  const parts = [`rank score ${hit.score}`];
  if (hit.dense_score !== null) parts.push(`cosine similarity ${hit.dense_score.toFixed(3)}`);
  if (hit.keyword_score !== null) parts.push(`BM25 ${hit.keyword_score.toFixed(2)}`);
  score.title = parts.join(" · ");
  const page = hit.page ? ` · p. ${hit.page}` : "";
  node.querySelector(".hit-section").textContent = (hit.section || "—") + page;
  if (hit.page) node.dataset.page = String(hit.page);
  const meta = Object.entries(hit.metadata || {});
  if (meta.length) {
    const line = node.querySelector(".hit-meta");
    line.textContent = meta
      .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : String(v)}`)
      .join(" · ");
    line.hidden = false;
  }
  const original = node.querySelector(".original");
  original.lang = hit.lang;
  original.querySelector(".passage-text").replaceWith(passageText(hit.text, hit.lang, terms));

  const cps = hit.counterparts || [];
  const toggle = node.querySelector(".toggle-cp");
  const panel = node.querySelector(".counterpart");
  if (cps.length) {
    const other = cps[0].lang;
    const label = `Show in ${LANG_NAMES[other] || other}`;
    toggle.textContent = label;
    panel.lang = other;
    for (const cp of cps) panel.append(counterpartBlock(cp, terms));
    toggle.addEventListener("click", () => {
      const on = toggle.getAttribute("aria-pressed") !== "true";
      toggle.setAttribute("aria-pressed", String(on));
      toggle.textContent = on ? `Hide ${LANG_NAMES[other] || other}` : label;
      panel.hidden = !on;
      node.classList.toggle("paired", on);
    });
  } else {
    toggle.hidden = true;
    node.querySelector(".no-cp").hidden = false;
  }
  const link = node.querySelector(".context-link");
  link.href = contextHref(hit.chunk_id);
  link.addEventListener("click", (ev) => followLink(ev, link.href));
  node.querySelector(".via").textContent = (hit.found_via || []).join(" · ");
  return node;
}

function describeFilters(s) {
  const parts = [];
  if (s.lang) parts.push(`language ${LANG_NAMES[s.lang] || s.lang}`);
  const doc = state.docs.find((d) => d.doc_id === s.doc);
  if (s.doc) parts.push(`document “${doc ? doc.title : s.doc}”`);
  if (s.section) parts.push(`section “${s.section}”`);
  if (s.meta) parts.push(`metadata ${s.meta}`);
  return parts;
}

function renderResults(data, s) {
  const terms = queryTerms(s.q);
  const list = $("results");
  list.replaceChildren(...data.hits.map((h) => hitCard(h, terms)));
  if (!data.hits.length) {
    const filters = describeFilters(s);
    $("empty-detail").textContent =
      `Nothing matched “${s.q}”` +
      (filters.length ? ` with ${filters.join(", ")}.` : ".") +
      (filters.length ? " Try fewer filters." : " Try other words or another language.");
    $("clear-filters").hidden = !filters.length;
    $("status").textContent = "";
    show("empty");
    return;
  }
  const n = data.hits.length;
  $("status").textContent =
    `${n} passage${n === 1 ? "" : "s"} · ${data.mode} search · ${Math.round(data.took_ms)} ms`;
  show("results");
}

async function runSearch(push) {
  const s = controls();
  setUrl(s, push);
  clearError();
  if (!s.q) {
    state.seq++;
    setLoading(false);
    $("status").textContent = "";
    show("intro");
    return;
  }
  const seq = ++state.seq;
  setLoading(true);
  const filters = {};
  if (s.lang) filters.lang = [s.lang];
  if (s.doc) filters.doc_id = [s.doc];
  if (s.section) filters.section = s.section;
  if (s.meta) {
    try {
      filters.metadata = JSON.parse(s.meta);
    } catch {
      setLoading(false);
      show("");
      showError(new ApiError(0, "bad_filter", "The meta= filter in the address is not valid JSON."));
      return;
    }
  }
  try {
    const data = await api("/v1/search", {
      query: s.q,
      top_k: TOP_K,
      mode: s.mode,
      filters,
      with_counterparts: true,
    });
    if (seq === state.seq) renderResults(data, s);
  } catch (err) {
    if (seq === state.seq) {
      show("");
      showError(err);
    }
  } finally {
    if (seq === state.seq) setLoading(false);
  }
}

// ---- a passage in its document ------------------------------------------------------------

function contextChunk(chunk, role, terms) {
  const li = document.createElement("li");
  li.className = `ctx ${role}`;
  li.dataset.chunkId = chunk.chunk_id;
  li.dataset.ordinal = String(chunk.ordinal);
  if (role === "focus") li.setAttribute("aria-current", "true");
  const head = document.createElement("div");
  head.className = "ctx-head";
  head.textContent = `${chunk.section || "—"} · #${chunk.ordinal}`;
  li.append(head, passageText(chunk.text, chunk.lang, role === "focus" ? terms : []));
  return li;
}

function navLink(label, href, cls) {
  const a = document.createElement("a");
  a.className = cls;
  a.textContent = label;
  a.href = href;
  a.addEventListener("click", (ev) => followLink(ev, a.href));
  return a;
}

async function showContext(chunkId) {
  const seq = ++state.seq;
  clearError();
  setLoading(true);
  try {
    const data = await api(`/v1/chunks/${encodeURIComponent(chunkId)}?neighbors=${NEIGHBORS}`);
    if (seq !== state.seq) return;
    const s = readUrl();
    const terms = queryTerms(s.q);
    const c = data.chunk;
    const box = $("context");
    const nav = document.createElement("nav");
    nav.className = "ctx-nav";
    nav.append(navLink("← Back to results", urlFor({ ...s, chunk: "" }), "back-link"));
    const title = document.createElement("h2");
    title.className = "ctx-title";
    title.textContent = c.title || c.doc_id;
    const meta = document.createElement("p");
    meta.className = "ctx-meta";
    const badge = document.createElement("span");
    badge.className = "badge lang-badge";
    langBadge(badge, c.lang);
    meta.append(badge, document.createTextNode(` ${c.doc_id} · passage #${c.ordinal}`));
    const list = document.createElement("ol");
    list.className = "ctx-chunks";
    list.append(
      ...data.before.map((x) => contextChunk(x, "before", terms)),
      contextChunk(c, "focus", terms),
      ...data.after.map((x) => contextChunk(x, "after", terms)),
    );
    const more = document.createElement("nav");
    more.className = "ctx-more";
    const first = data.before[0] || c;
    const last = data.after[data.after.length - 1] || c;
    if (first.prev_id) more.append(navLink("↑ Earlier", contextHref(first.prev_id), "earlier"));
    if (last.next_id) more.append(navLink("Later ↓", contextHref(last.next_id), "later"));
    box.replaceChildren(nav, title, meta, list, more);
    show("context");
    $("status").textContent = `${data.before.length + 1 + data.after.length} passages of the document`;
    title.tabIndex = -1;
    title.focus();
    loadCounterparts(c, list.querySelector(".focus"), terms, seq);
  } catch (err) {
    if (seq === state.seq) {
      show("");
      showError(err);
    }
  } finally {
    if (seq === state.seq) setLoading(false);
  }
}

async function loadCounterparts(chunk, item, terms, seq) {
  let data;
  try {
    data = await api(`/v1/chunks/${encodeURIComponent(chunk.chunk_id)}/counterparts`);
  } catch (err) {
    if (seq === state.seq) showError(err);
    return;
  }
  if (seq !== state.seq || !data.counterparts.length) return;
  const other = data.counterparts[0].lang;
  const label = `Show in ${LANG_NAMES[other] || other}`;
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "toggle-cp quiet";
  toggle.textContent = label;
  toggle.setAttribute("aria-pressed", "false");
  const pair = document.createElement("div");
  pair.className = "pair";
  const original = item.querySelector(".passage-text");
  const left = document.createElement("div");
  left.className = "passage original";
  left.lang = chunk.lang;
  original.replaceWith(pair);
  left.append(original);
  const panel = document.createElement("div");
  panel.className = "passage counterpart";
  panel.lang = other;
  panel.hidden = true;
  for (const cp of data.counterparts) panel.append(counterpartBlock(cp, terms));
  pair.append(left, panel);
  toggle.addEventListener("click", () => {
    const on = toggle.getAttribute("aria-pressed") !== "true";
    toggle.setAttribute("aria-pressed", String(on));
    toggle.textContent = on ? `Hide ${LANG_NAMES[other] || other}` : label;
    panel.hidden = !on;
    item.classList.toggle("paired", on);
  });
  item.append(toggle);
}

// ---- navigation ---------------------------------------------------------------------------

function followLink(ev, href) {
  // Let the browser handle new-tab / new-window clicks; plain clicks stay in the page.
  if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  ev.preventDefault();
  history.pushState(null, "", href);
  route();
}

function route() {
  const s = readUrl();
  restoreControls(s);
  if (s.chunk) showContext(s.chunk);
  else runSearch(false);
}

// ---- adding documents: drop, upload with progress, follow the job ---------------------------

function uploadRow(file) {
  const li = document.createElement("li");
  li.className = "upload";
  li.dataset.state = "uploading";
  const name = document.createElement("span");
  name.className = "upload-name";
  name.textContent = file.name;
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  const what = document.createElement("span");
  what.className = "upload-state";
  what.textContent = "uploading…";
  li.append(name, bar, what);
  $("uploads").prepend(li);
  return li;
}

function setRow(li, stateName, text, percent) {
  li.dataset.state = stateName;
  li.querySelector(".upload-state").textContent = text;
  if (percent !== undefined) li.querySelector("progress").value = percent;
}

function jobText(job) {
  const p = job.progress || {};
  if (job.state === "embedding" && p.to_embed) return `embedding ${p.embedded || 0}/${p.to_embed}`;
  if (job.state === "done") {
    const n = (job.result || {}).chunks;
    return n === undefined ? "done" : `done · ${n} passage${n === 1 ? "" : "s"}`;
  }
  if (job.state === "failed") return `failed: ${(job.error || {}).message || "see the server log"}`;
  return job.state;
}

async function followJob(li, jobId) {
  for (;;) {
    let job;
    try {
      job = await api(`/v1/jobs/${encodeURIComponent(jobId)}`);
    } catch (err) {
      setRow(li, "failed", `could not follow the job: ${err.message}`);
      return;
    }
    setRow(li, job.state, jobText(job), job.state === "done" ? 100 : undefined);
    if (job.state === "done" || job.state === "failed") return job.state;
    await new Promise((r) => setTimeout(r, JOB_POLL_MS));
  }
}

// XMLHttpRequest, not fetch: only it reports how much of the body has been sent.
function sendFile(file, metadata, onProgress) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append("file", file, file.name);
    if (metadata) form.append("metadata", metadata);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/documents");
    xhr.setRequestHeader("Accept", "application/json");
    const key = readKey();
    if (key) xhr.setRequestHeader("X-API-Key", key);
    xhr.upload.addEventListener("progress", (ev) => {
      if (ev.lengthComputable) onProgress(Math.round((100 * ev.loaded) / ev.total));
    });
    xhr.addEventListener("load", () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      resolve({ status: xhr.status, data });
    });
    xhr.addEventListener("error", () => resolve({ status: 0, data: null }));
    xhr.send(form);
  });
}

async function uploadFile(file, metadata) {
  const li = uploadRow(file);
  const dot = file.name.lastIndexOf(".");
  const ext = dot >= 0 ? file.name.slice(dot).toLowerCase() : "";
  if (!UPLOAD_TYPES.includes(ext)) {
    setRow(li, "failed", `not a supported type (${UPLOAD_TYPES.join(" ")})`);
    return;
  }
  const { status, data } = await sendFile(file, metadata, (pct) => setRow(li, "uploading",
    `uploading ${pct}%`, pct));
  if (status === 0) {
    setRow(li, "failed", "the server could not be reached");
    return;
  }
  if (status === 401 || status === 403) {
    setRow(li, "failed", "refused: enter the admin API key under “API key”");
    return;
  }
  if (status >= 400 || !data) {
    setRow(li, "failed", ((data && data.error) || {}).message || `the server answered ${status}`);
    return;
  }
  li.dataset.docId = data.doc_id;
  if (!data.job_id) {
    setRow(li, "done", "already there, unchanged", 100);
    return;
  }
  setRow(li, "queued", "queued", 100);
  if ((await followJob(li, data.job_id)) === "done") {
    try {
      fillDocs((await api("/v1/documents")).documents); // the new document in the filters
      fillSections($("doc").value, $("section").value);
    } catch {
      /* the list refreshes at the next page load */
    }
  }
}

function uploadFiles(files) {
  const raw = $("upload-meta").value.trim();
  if (raw) {
    try {
      JSON.parse(raw);
    } catch {
      const li = uploadRow({ name: "metadata" });
      setRow(li, "failed", "the metadata is not valid JSON: nothing was sent");
      return;
    }
  }
  for (const file of files) uploadFile(file, raw);
}

function wireUploads() {
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    zone.classList.remove("dragging");
    if (ev.dataTransfer && ev.dataTransfer.files.length) uploadFiles([...ev.dataTransfer.files]);
  });
  $("file-input").addEventListener("change", () => {
    uploadFiles([...$("file-input").files]);
    $("file-input").value = "";
  });
}

// ---- start --------------------------------------------------------------------------------

async function loadFilters() {
  const [ready, docs] = await Promise.allSettled([api("/readyz"), api("/v1/documents")]);
  if (ready.status === "fulfilled" && Array.isArray(ready.value.modes)) {
    fillModes(ready.value.modes);
  } else {
    fillModes(state.modes);
  }
  if (docs.status === "rejected") throw docs.reason;
  fillDocs(docs.value.documents);
  if (ready.status === "rejected") throw ready.reason;
}

function showKeyState() {
  $("key-state").textContent = readKey() ? "· set" : "";
}

async function start() {
  document.body.dataset.state = "starting";
  showKeyState();
  try {
    await loadFilters();
    state.ready = true;
  } catch (err) {
    restoreControls(readUrl());
    show("");
    showError(err);
    return;
  }
  route();
}

function wire() {
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    runSearch(true);
  });
  $("lang-chips").addEventListener("click", (ev) => {
    const chip = ev.target.closest("button[data-lang]");
    if (!chip) return;
    press("lang-chips", "lang", chip.dataset.lang);
    if ($("q").value.trim()) runSearch(true);
  });
  $("modes").addEventListener("click", (ev) => {
    const seg = ev.target.closest("button[data-mode]");
    if (!seg) return;
    press("modes", "mode", seg.dataset.mode);
    if ($("q").value.trim()) runSearch(true);
  });
  $("doc").addEventListener("change", () => {
    fillSections($("doc").value, "");
    if ($("q").value.trim()) runSearch(true);
  });
  $("section").addEventListener("change", () => {
    if ($("q").value.trim()) runSearch(true);
  });
  $("clear-filters").addEventListener("click", () => {
    press("lang-chips", "lang", "");
    $("doc").value = "";
    fillSections("", "");
    showMeta("");
    runSearch(true);
  });
  $("meta-clear").addEventListener("click", () => {
    showMeta("");
    runSearch(true);
  });
  wireUploads();
  for (const a of document.querySelectorAll("#examples a, #home-link")) {
    a.addEventListener("click", (ev) => followLink(ev, a.href));
  }
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    storeKey($("key-input").value.trim());
    $("key-input").value = "";
    $("key-panel").open = false;
    clearError();
    start();
  });
  $("key-clear").addEventListener("click", () => {
    storeKey("");
    $("key-input").value = "";
    showKeyState();
  });
  window.addEventListener("popstate", () => {
    if (state.ready) route();
    else start();
  });
}

wire();
$("q").focus();
start();
