// The draw-it-yourself page: a canvas, the judge's reading (and the ViT's beside it, with its attention) and teaching it,
// the VAE's styles, the painters, and the text painter's prompt box (English or Japanese). No library, no network
// but this app.
"use strict";

const HEAT = [255, 90, 0]; // the attention overlay's colour; its opacity grows with the patch's share, up to HEAT_ALPHA
const HEAT_ALPHA = 0.75;
const BRUSH = 22; // pixels on the 280-pixel canvas: about 2 pixels once scaled into MNIST's 20-pixel box
const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = "oekaki-contributor-token"; // localStorage: the random token that links this browser's taught digits
const TOKEN_RE = /^[A-Za-z0-9_-]{16,128}$/;
const state = { lang: "en", words: {}, info: null, strokes: [], current: null, asked: 0, teach: false, label: null, token: null,
  prompts: 0 };

// ------------------------------------------------------------------ words
function word(key, fields = {}) {
  const table = state.words[state.lang] || {};
  const text = table[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in fields ? String(fields[name]) : `{${name}}`));
}

function setText(el, key, fields = {}) {
  el.dataset.t = key;
  el.dataset.f = JSON.stringify(fields);
  el.textContent = word(key, fields);
  return el;
}

function applyLanguage(lang) {
  state.lang = lang;
  document.documentElement.lang = lang;
  document.title = `oekaki: ${word("app_title")}`;
  for (const el of document.querySelectorAll("[data-t]")) {
    el.textContent = word(el.dataset.t, el.dataset.f ? JSON.parse(el.dataset.f) : {});
  }
  for (const opt of document.querySelectorAll("#painter option")) {
    opt.textContent = painterName(opt.value) + (opt.disabled ? ` ${word("app_painter_missing")}` : "");
  }
  $("#prompt-text").placeholder = word("app_prompt_placeholder");
  try { localStorage.setItem("oekaki-lang", lang); } catch (_) { /* private mode */ }
}

function painterName(name) {
  const key = `row_${name}`;
  return (state.words[state.lang] || {})[key] ? word(key) : name.toUpperCase();
}

// ------------------------------------------------------------------ images
function greyCanvas(rows, title) {
  const h = rows.length, w = rows[0].length;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  canvas.className = "px";
  if (title) canvas.title = title;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = rows[y][x], i = 4 * (y * w + x);
      img.data[i] = img.data[i + 1] = img.data[i + 2] = v;
      img.data[i + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

function showGrid(el, images, captions) {
  el.replaceChildren(
    ...images.map((rows, i) => {
      const fig = document.createElement("figure");
      fig.append(greyCanvas(rows));
      if (captions) {
        const cap = document.createElement("figcaption");
        cap.textContent = captions[i];
        fig.append(cap);
      }
      return fig;
    }),
  );
}

function showSource(el, source) {
  el.replaceChildren();
  if (!source) return;
  const line = document.createElement("span");
  if (source.version) {
    setText(line, "app_src_registry", { name: source.name, version: source.version, alias: source.alias ? ` (@${source.alias})` : "" });
  } else {
    setText(line, source.kind === "gmm" ? "app_src_file" : "app_src_dvc", { path: source.path });
  }
  el.append(line);
  if (source.version && typeof source.contributed_digits === "number") {
    // what this registered version learned from people (the runner tags each version with its snapshot's count)
    const taught = document.createElement("span");
    setText(taught, "app_src_contributed", { n: source.contributed_digits.toLocaleString("en-US") });
    el.append(" · ", taught);
  }
  if (source.run_url) {
    const link = document.createElement("a");
    link.href = source.run_url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    const label = document.createElement("span");
    setText(label, "col_run");
    link.append(label, ` ${source.run_id.slice(0, 8)}`);
    el.append(" · ", link);
  }
}

function status(el, key, fields = {}, isError = false) {
  setText(el, key, fields);
  el.classList.toggle("error", isError);
  el.hidden = false;
}

// ------------------------------------------------------------------ API
class ApiError extends Error {
  constructor(message, status, data = {}) {
    super(message);
    this.status = status;
    this.data = data; // the whole answer: some refusals say more than "error" (the prompt's unknown words)
  }
}

async function call(url, init) {
  const t0 = performance.now();
  const r = await fetch(url, init);
  let data;
  try { data = await r.json(); } catch (_) { data = { error: `${r.status} ${r.statusText}` }; }
  if (!r.ok) throw new ApiError(data.error || `${r.status} ${r.statusText}`, r.status, data);
  return [data, Math.round(performance.now() - t0)];
}

const post = (url, body) => call(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

const ms = (x) => x.toFixed(1);

// ------------------------------------------------------------------ the canvas
const pad = () => $("#pad");

function redraw() {
  const c = pad(), ctx = c.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.strokeStyle = "#000";
  ctx.lineWidth = BRUSH;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const s of state.strokes) {
    ctx.beginPath();
    ctx.moveTo(s[0].x, s[0].y);
    if (s.length === 1) ctx.lineTo(s[0].x + 0.01, s[0].y); // a dot
    for (const p of s.slice(1)) ctx.lineTo(p.x, p.y);
    ctx.stroke();
  }
}

function point(e) {
  const c = pad(), r = c.getBoundingClientRect();
  return { x: ((e.clientX - r.left) * c.width) / r.width, y: ((e.clientY - r.top) * c.height) / r.height };
}

function setUpCanvas() {
  const c = pad();
  c.addEventListener("pointerdown", (e) => {
    if (e.pointerType === "mouse" && e.button !== 0) return;
    c.setPointerCapture(e.pointerId);
    state.current = [point(e)];
    state.strokes.push(state.current);
    redraw();
    e.preventDefault();
  });
  c.addEventListener("pointermove", (e) => {
    if (!state.current) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of events.length ? events : [e]) state.current.push(point(ev));
    redraw();
  });
  const end = () => {
    if (!state.current) return;
    state.current = null;
    ask();
  };
  c.addEventListener("pointerup", end);
  c.addEventListener("pointercancel", end);
  $("#undo").addEventListener("click", () => { state.strokes.pop(); redraw(); ask(); });
  $("#clear").addEventListener("click", () => { state.strokes = []; redraw(); ask(); });
  redraw();
}

function resetAnswers() {
  status($("#judge-status"), "app_start");
  $("#teach").hidden = true;
  for (const id of ["#judge-answer", "#vit-answer", "#vit-attention-block"]) $(id).hidden = true;
  for (const id of ["#probs", "#maps1", "#maps2", "#judge-source", "#vit-probs", "#vit-source", "#style-grid", "#style-source"]) {
    $(id).replaceChildren();
  }
  for (const id of ["#style-status", "#vit-status"]) $(id).hidden = true;
  const seen = $("#seen");
  seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
}

// ------------------------------------------------------------------ answers
async function ask() {
  const asked = ++state.asked;
  if (!state.strokes.length) { resetAnswers(); return; }
  const image = pad().toDataURL("image/png");
  newDrawing();
  await Promise.all([askJudge(image, asked), askVit(image, asked), askStyle(image, asked)]);
}

async function askJudge(image, asked) {
  const el = $("#judge-status");
  try {
    const [r, rt] = await post("/api/judge", { image });
    if (asked !== state.asked) return; // a newer stroke is on its way
    const seen = $("#seen");
    seen.getContext("2d").drawImage(greyCanvas(r.digit), 0, 0);
    const answer = $("#judge-answer");
    setText(answer, "app_judge_answer", { label: r.label, prob: `${(100 * r.probs[r.label]).toFixed(1)} %` });
    answer.dataset.label = r.label;
    answer.hidden = false;
    chooseLabel(r.label); // the judge's reading, for the person to confirm or correct
    showBars($("#probs"), r.probs, r.label);
    for (const block of r.maps.slice(0, 2)) {
      const target = $(`#maps${block.block}`);
      target.replaceChildren(...block.channels.map((rows, i) => greyCanvas(rows, `block ${block.block} channel ${i}`)));
    }
    status(el, "app_took_one", { ms: ms(r.ms), rt });
    showSource($("#judge-source"), r.source);
  } catch (err) {
    if (asked === state.asked) fail(el, err);
  }
}

function showBars(bars, probs, top) {
  bars.replaceChildren();
  probs.forEach((p, digit) => {
    const d = document.createElement("span");
    d.className = "digit";
    d.textContent = digit;
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill" + (digit === top ? " top" : "");
    fill.style.width = `${(100 * p).toFixed(2)}%`;
    track.dataset.digit = digit;
    track.dataset.prob = p;
    track.classList.add("bar");
    track.append(fill);
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = `${(100 * p).toFixed(1)} %`;
    bars.append(d, track, pct);
  });
}

async function askVit(image, asked) {
  // the second judge: its reading beside the CNN's, and where it looked (attention rollout over its patches)
  const el = $("#vit-status");
  try {
    const [r, rt] = await post("/api/vit", { image });
    if (asked !== state.asked) return;
    const answer = $("#vit-answer");
    setText(answer, "app_vit_answer", { label: r.label, prob: `${(100 * r.probs[r.label]).toFixed(1)} %` });
    answer.dataset.label = r.label;
    answer.hidden = false;
    showBars($("#vit-probs"), r.probs, r.label);
    const top = showAttention($("#vit-attention"), r.digit, r.rollout);
    setText($("#vit-attention-caption"), "app_vit_cap_attention", { grid: r.grid, top: `${(100 * top).toFixed(1)} %` });
    $("#vit-attention-block").hidden = false;
    status(el, "app_took_one", { ms: ms(r.ms), rt });
    showSource($("#vit-source"), r.source);
  } catch (err) {
    if (asked !== state.asked) return;
    $("#vit-answer").hidden = $("#vit-attention-block").hidden = true;
    $("#vit-probs").replaceChildren();
    $("#vit-source").replaceChildren();
    // 503: no ViT to ask (not trained yet, or it cannot be loaded): said in words, not as a fault; the CNN answers alone
    if (err instanceof ApiError && err.status === 503) status(el, "app_vit_missing", { reason: err.message });
    else fail(el, err);
  }
}

function showAttention(canvas, digit, rollout) {
  // the digit the models see, scaled up, under a translucent heat map of the rollout (grid x grid, summing to 1), with the
  // patch grid drawn over it; returns the warmest patch's share
  const ctx = canvas.getContext("2d"), size = canvas.width, grid = rollout.length, cell = size / grid;
  const top = Math.max(...rollout.flat());
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(greyCanvas(digit), 0, 0, size, size);
  rollout.forEach((row, y) => row.forEach((share, x) => {
    ctx.fillStyle = `rgba(${HEAT.join(", ")}, ${top > 0 ? ((HEAT_ALPHA * share) / top).toFixed(3) : 0})`;
    ctx.fillRect(x * cell, y * cell, cell, cell);
  }));
  ctx.strokeStyle = "rgba(255, 255, 255, 0.45)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let i = 1; i < grid; i++) {
    const at = Math.round(i * cell) + 0.5;
    ctx.moveTo(at, 0);
    ctx.lineTo(at, size);
    ctx.moveTo(0, at);
    ctx.lineTo(size, at);
  }
  ctx.stroke();
  const warmest = rollout.flat().indexOf(top);
  Object.assign(canvas.dataset, { grid, warmest, share: top });
  return top;
}

async function askStyle(image, asked) {
  const el = $("#style-status");
  try {
    const [r, rt] = await post("/api/style", { image });
    if (asked !== state.asked) return;
    showGrid($("#style-grid"), r.images, r.images.map((_, i) => String(i)));
    status(el, "app_took_one", { ms: ms(r.ms), rt });
    showSource($("#style-source"), r.source);
  } catch (err) {
    if (asked === state.asked) fail(el, err);
  }
}

async function askPainter(e) {
  e.preventDefault();
  const el = $("#paint-status");
  const painter = $("#painter").value, label = Number($("#digit").value), n = Number($("#count").value);
  const seed = crypto.getRandomValues(new Uint32Array(1))[0];
  try {
    const [r, rt] = await post("/api/paint", { painter, label, n, seed });
    showGrid($("#paint-grid"), r.images);
    $("#path-block").hidden = !r.path;
    if (r.path) showGrid($("#path-grid"), r.path, r.path.map((_, i) => (i === 0 ? word("app_path_noise") : i === r.path.length - 1 ? word("app_path_digit") : "")));
    status(el, "app_took", { n: r.images.length, ms: ms(r.ms), rt });
    $("#paint-note").hidden = r.conditional;
    showSource($("#paint-source"), r.source);
  } catch (err) {
    fail(el, err);
  }
}

// ------------------------------------------------------------------ the prompt box (the text painter)
const quoted = (words) => words.map((w) => `“${w}”`).join(", ");

function showTokens(el, tokens, max) {
  // the pieces the painter read, in order, each in its own box: what a prompt becomes before the text encoder
  const label = document.createElement("span");
  setText(label, "app_prompt_tokens", { n: tokens.length, max: max - 1 });
  el.replaceChildren(label, ...tokens.map((t) => {
    const chip = document.createElement("span");
    chip.className = "token";
    chip.textContent = t;
    return chip;
  }));
  el.dataset.tokens = JSON.stringify(tokens);
  el.hidden = false;
}

function clearPrompt() {
  for (const id of ["#prompt-grid", "#prompt-tokens", "#prompt-source"]) $(id).replaceChildren();
  $("#prompt-tokens").hidden = $("#prompt-warning").hidden = true;
  delete $("#prompt-tokens").dataset.tokens;
}

async function askPrompt(e) {
  if (e) e.preventDefault();
  const el = $("#prompt-status"), prompt = $("#prompt-text").value, asked = ++state.prompts;
  delete el.dataset.outcome; // set again once this prompt is answered (the browser test waits for it)
  if (!prompt.trim()) { // said here, in the page's language; the server would refuse it too (422)
    clearPrompt();
    status(el, "app_prompt_empty", {}, true);
    el.dataset.outcome = "empty";
    return;
  }
  const seed = crypto.getRandomValues(new Uint32Array(1))[0];
  const button = $("#prompt-button");
  button.disabled = true;
  try {
    const [r, rt] = await post("/api/paint-prompt", { prompt, seed });
    if (asked !== state.prompts) return; // a newer prompt is on its way
    showGrid($("#prompt-grid"), r.images);
    showTokens($("#prompt-tokens"), r.tokens, r.max_tokens);
    const warning = $("#prompt-warning");
    if (r.unknown.length) status(warning, "app_prompt_unknown", { words: quoted(r.unknown) });
    else warning.hidden = true;
    status(el, "app_prompt_took", { n: r.images.length, seed: r.seed, ms: ms(r.ms), rt });
    el.dataset.outcome = r.unknown.length ? "painted-unknown" : "painted";
    showSource($("#prompt-source"), r.source);
  } catch (err) {
    if (asked !== state.prompts) return;
    clearPrompt();
    if (err instanceof ApiError && err.status === 503) {
      status(el, "app_prompt_missing", { reason: err.message }); // not trained yet: said in words, not as a fault
      el.dataset.outcome = "missing";
    } else if (err instanceof ApiError && err.status === 422 && Array.isArray(err.data.unknown)) {
      status(el, "app_prompt_none", { words: quoted(err.data.unknown) }, true);
      el.dataset.outcome = "none";
    } else {
      fail(el, err);
      el.dataset.outcome = "error";
    }
  } finally {
    if (asked === state.prompts) button.disabled = false;
  }
}

function setUpPrompt(info) {
  const p = info.prompt;
  $("#prompt-text").maxLength = info.limits.max_prompt_chars;
  $("#prompt-examples").replaceChildren(
    ...p.examples.map((text) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = text;
      b.addEventListener("click", () => { $("#prompt-text").value = text; askPrompt(); });
      return b;
    }),
  );
  $("#prompt-form").addEventListener("submit", askPrompt);
  if (!p.available) status($("#prompt-status"), "app_prompt_missing", { reason: info.missing.text_painter || "" });
}

function fail(el, err) {
  status(el, "app_error", { message: err instanceof ApiError ? err.message : String(err) }, true);
}

// ------------------------------------------------------------------ teaching the judge
function savedToken() {
  if (state.token) return state.token;
  try { state.token = localStorage.getItem(TOKEN_KEY); } catch (_) { /* private mode: a token for this visit only */ }
  if (state.token && !TOKEN_RE.test(state.token)) state.token = null;
  return state.token;
}

function contributorToken() {
  // made once, at the first teach: 32 random bytes, URL-safe base64; no account, nothing about the person
  if (savedToken()) return state.token;
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  state.token = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  try { localStorage.setItem(TOKEN_KEY, state.token); } catch (_) { /* private mode */ }
  return state.token;
}

function chooseLabel(digit) {
  state.label = digit;
  for (const b of document.querySelectorAll("#teach-labels button")) b.setAttribute("aria-pressed", String(Number(b.dataset.digit) === digit));
  $("#teach-button").disabled = digit === null || !state.strokes.length;
}

function newDrawing() {
  $("#teach").hidden = !state.teach;
  $("#teach-status").hidden = true;
  delete $("#teach-status").dataset.outcome;
  chooseLabel(null);
}

function teachStatus(key, fields, outcome) {
  const el = $("#teach-status");
  status(el, key, fields, outcome === "duplicate" || outcome === "error");
  el.dataset.outcome = outcome;
}

async function teach() {
  const label = state.label;
  if (label === null || !state.strokes.length) return;
  const button = $("#teach-button");
  button.disabled = true;
  try {
    const [r] = await post("/api/teach", { image: pad().toDataURL("image/png"), label, token: contributorToken() });
    teachStatus("app_teach_stored", { id: r.id, label: r.label }, "stored");
    showCount();
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) teachStatus("app_teach_duplicate", {}, "duplicate");
    else teachStatus("app_error", { message: err instanceof ApiError ? err.message : String(err) }, "error");
  } finally {
    button.disabled = state.label === null;
  }
}

async function forget() {
  const token = savedToken();
  try {
    const [r] = token ? await call("/api/contributions", { method: "DELETE", headers: { "X-Contributor-Token": token } }) : [{ erased: 0 }];
    teachStatus("app_forgot", { n: r.erased }, "erased");
    showCount();
  } catch (err) {
    teachStatus("app_error", { message: err instanceof ApiError ? err.message : String(err) }, "error");
  }
}

async function showCount() {
  const el = $("#teach-count"), token = savedToken();
  if (!token) return;
  try {
    const [r] = await call("/api/contributions", { headers: { "X-Contributor-Token": token } });
    status(el, "app_teach_count", { n: r.count });
  } catch (_) {
    el.hidden = true;
  }
}

function setUpTeach(info) {
  state.teach = Boolean(info.teach); // false: the app has no contributions store, the block stays hidden
  $("#teach-labels").replaceChildren(
    ...Array.from({ length: info.n_classes }, (_, d) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = b.dataset.digit = String(d);
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", () => chooseLabel(d));
      return b;
    }),
  );
  $("#teach-button").addEventListener("click", teach);
  $("#forget-button").addEventListener("click", forget);
  if (state.teach) showCount();
}

// ------------------------------------------------------------------ start
function showNotices(info) {
  const list = $("#notices");
  list.replaceChildren();
  for (const n of info.notices) {
    const li = document.createElement("li");
    setText(li, "app_notice_fallback", { name: n.name, path: n.path });
    li.title = n.detail || "";
    li.className = "fallback";
    list.append(li);
  }
  for (const [kind, reason] of Object.entries(info.missing)) {
    const li = document.createElement("li");
    setText(li, "app_notice_missing", { kind, reason });
    li.className = "missing";
    list.append(li);
  }
}

function setUpPainters(info) {
  const select = $("#painter");
  select.replaceChildren(
    ...info.painters.map((p) => {
      const opt = document.createElement("option");
      opt.value = p.name;
      opt.disabled = !p.available;
      return opt;
    }),
  );
  const first = info.painters.find((p) => p.available);
  if (first) select.value = first.name;
  $("#digit").replaceChildren(
    ...Array.from({ length: info.n_classes }, (_, d) => {
      const opt = document.createElement("option");
      opt.value = opt.textContent = String(d);
      return opt;
    }),
  );
  $("#count").max = info.limits.max_samples;
  $("#paint-form").addEventListener("submit", askPainter);
}

async function start() {
  const r = await fetch("/api/info");
  const info = await r.json();
  state.info = info;
  state.words = info.words;
  showNotices(info);
  setUpPainters(info);
  setUpPrompt(info);
  setUpTeach(info);
  setUpCanvas();
  const asked = new URLSearchParams(location.search).get("lang");
  let saved = null;
  try { saved = localStorage.getItem("oekaki-lang"); } catch (_) { /* private mode */ }
  const lang = [asked, saved].find((l) => l && l in info.words) || (navigator.language.startsWith("ja") ? "ja" : "en");
  applyLanguage(lang);
  $("#lang-switch").addEventListener("click", () => applyLanguage(state.lang === "en" ? "ja" : "en"));
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", start);
