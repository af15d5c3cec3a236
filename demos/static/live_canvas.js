// The live canvas (demos/canvas.py): run by gr.HTML's js_on_load with `element`, `props`, `server`,
// `upload` and `watch`. Draw with pointer events on a SIDE x SIDE canvas; each update sends the canvas at
// the model's input size (props.size) to the named endpoint (props.endpoint) over Gradio's REST API and
// shows the photo it returns. One request is in flight per page (all live canvases share one slot); while
// it runs, newer strokes wait and only the newest drawing is sent next; stale results are dropped.
const root = element.querySelector(".lc");
const canvas = root.querySelector("canvas.lc-canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
const photo = root.querySelector("img.lc-photo");
const hint = root.querySelector(".lc-hint");
const statusLine = root.querySelector(".lc-status");
const fileInput = root.querySelector("input[type=file]");
const SIDE = canvas.width;
const UNDO_LIMIT = 40;
const slot = (window.__i2iLiveCanvasSlot ??= { busy: false, queue: [], active: null });
const state = {
  tool: "pen", sizeIndex: props.default_size, color: props.ink, undo: [], redo: [], down: null,
  version: 0, sent: -1, shown: -1, photos: 0, photoUrl: null, visible: false,
};

// -- drawing ---------------------------------------------------------------------------------------
function fillPaper() {
  ctx.save();
  ctx.globalCompositeOperation = "source-over";
  ctx.fillStyle = props.paper;
  ctx.fillRect(0, 0, SIDE, SIDE);
  ctx.restore();
}

function remember() {
  state.undo.push(ctx.getImageData(0, 0, SIDE, SIDE));
  if (state.undo.length > UNDO_LIMIT) state.undo.shift();
  state.redo.length = 0;
  refreshButtons();
}

function step(from, to) {
  if (!from.length) return;
  to.push(ctx.getImageData(0, 0, SIDE, SIDE));
  ctx.putImageData(from.pop(), 0, 0);
  refreshButtons();
  changed();
}

function brush() {
  const eraser = state.tool === "eraser";
  return { color: eraser ? props.paper : state.color,
           width: (eraser ? props.eraser_sizes : props.pen_sizes)[state.sizeIndex] };
}

function at(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * SIDE / box.width, (event.clientY - box.top) * SIDE / box.height];
}

function dot([x, y], { color, width }) {
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.arc(x, y, width / 2, 0, 2 * Math.PI);
  ctx.fill();
}

function segment(from, to, { color, width }) {
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(...from);
  ctx.lineTo(...to);
  ctx.stroke();
}

canvas.addEventListener("pointerdown", (event) => {
  if (state.down || (event.pointerType === "mouse" && event.button !== 0)) return;
  event.preventDefault();
  try {
    canvas.setPointerCapture(event.pointerId);   // strokes may leave the canvas and come back
  } catch {
    // a pointer the browser does not track (a synthetic event): draw without capture
  }
  canvas.focus({ preventScroll: true });
  slot.active = element;
  remember();
  const point = at(event);
  state.down = { id: event.pointerId, last: point, brush: brush() };
  root.dataset.drawing = "1";
  dot(point, state.down.brush);
  changed();
});

canvas.addEventListener("pointermove", (event) => {
  if (!state.down || event.pointerId !== state.down.id) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const each of events.length ? events : [event]) {
    const point = at(each);
    segment(state.down.last, point, state.down.brush);
    state.down.last = point;
  }
  changed();
});

function penUp(event) {
  if (!state.down || event.pointerId !== state.down.id) return;
  state.down = null;
  delete root.dataset.drawing;
  schedule();   // the final update of the stroke (queued already unless the newest drawing was sent)
}
canvas.addEventListener("pointerup", penUp);
canvas.addEventListener("pointercancel", penUp);

function place(image) {
  remember();
  fillPaper();
  const scale = Math.min(SIDE / image.width, SIDE / image.height);
  const width = image.width * scale, height = image.height * scale;
  ctx.imageSmoothingEnabled = props.mode === "ink";
  ctx.drawImage(image, (SIDE - width) / 2, (SIDE - height) / 2, width, height);
  changed();
}

async function imageFrom(url) {
  const image = new Image();
  image.src = url;
  await image.decode();
  return image;
}

// -- updates ---------------------------------------------------------------------------------------
function changed() {
  state.version += 1;
  root.dataset.version = state.version;
  schedule();
}

function schedule() {
  if (!state.visible || state.sent === state.version || slot.queue.includes(run)) return;
  slot.queue.push(run);
  pump();
}

function pump() {
  if (slot.busy || !slot.queue.length) return;
  slot.busy = true;
  slot.queue.shift()().finally(() => { slot.busy = false; pump(); });
}

async function run() {
  const version = state.version;
  state.sent = version;
  root.dataset.busy = "1";
  try {
    const started = performance.now();
    const url = await render(version);
    if (version > state.shown) show(version, url, performance.now() - started);
  } catch (error) {
    if (version > state.shown) setStatus(String(error.message || error), true);
  } finally {
    delete root.dataset.busy;
    if (state.sent !== state.version) schedule();
  }
}

function modelInput() {
  const small = document.createElement("canvas");
  small.width = small.height = props.size;
  const smallCtx = small.getContext("2d", { willReadFrequently: true });
  smallCtx.imageSmoothingEnabled = props.mode === "ink";   // label maps keep pure class colors
  smallCtx.imageSmoothingQuality = "high";
  smallCtx.drawImage(canvas, 0, 0, props.size, props.size);
  return small;
}

function isBlank(small) {
  const pixels = small.getContext("2d").getImageData(0, 0, small.width, small.height).data;
  let low = 255, high = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    const value = Math.min(pixels[i], pixels[i + 1], pixels[i + 2]);
    low = Math.min(low, value);
    high = Math.max(high, value);
  }
  return high - low < 24;
}

// -- in-browser inference (demos/static/in_browser.js; demos/browser_models.py serves the files) ------
// With props.browser_model the page loads the model once (the server makes the photos meanwhile) and
// then runs it itself; no WebAssembly, ?inference=server in the page's URL or a failed load keep the
// server. The badge says which is in use; data-inference and data-where tell the tests.
const badge = root.querySelector(".lc-where");
const local = { url: undefined, runner: null };   // undefined: no model seen yet

function setWhere(mode, text, title = "") {
  root.dataset.inference = mode;
  badge.hidden = false;
  badge.textContent = text;
  badge.title = title;
  badge.classList.toggle("lc-local", mode === "browser");
}

function localRunner() {
  const spec = props.browser_model;
  if (local.url === (spec?.url || null)) return local.runner;
  local.url = spec?.url || null;
  local.runner = null;
  const forced = new URLSearchParams(location.search).get("inference") === "server";
  if (!spec?.url || forced || typeof WebAssembly !== "object") {
    setWhere("server", "running on the server", !spec?.url ? "this model has no in-browser version"
             : forced ? "?inference=server in the page's address" : "this browser has no WebAssembly");
  } else {
    loadLocal(spec);
  }
  return null;
}

async function loadLocal(spec) {
  setWhere("loading", `running on the server while the model loads (${(spec.bytes / 1e6).toFixed(1)} MB)…`);
  try {
    const appRoot = (window.gradio_config?.root || new URL(".", location.href).href).replace(/\/?$/, "/");
    const module = await import(new URL(spec.module, appRoot).href);
    const runner = await module.loadModel(spec);
    if (local.url !== spec.url) return;
    local.runner = runner;
    setWhere("browser", "running in your browser", "onnxruntime-web (WebAssembly) runs the model on this device");
  } catch (error) {
    if (local.url === spec.url) setWhere("server", "running on the server", `in-browser model failed: ${error.message || error}`);
  }
}

// The photo's URL for drawing `version`, or null for a blank sketch.
async function render(version) {
  const small = modelInput();
  if (props.mode === "ink" && isBlank(small)) return null;
  const runner = localRunner();
  if (runner) {
    const url = await runner.photo(small, props.model_class || "");
    root.dataset.where = "browser";
    return url;
  }
  root.dataset.where = "server";
  const blob = await new Promise((resolve) => small.toBlob(resolve, "image/png"));
  const uploaded = await upload(new File([blob], "drawing.png", { type: "image/png" }));
  const api = uploaded.url.slice(0, uploaded.url.indexOf("/gradio_api/")) + "/gradio_api/call/" + props.endpoint;
  const file = { path: uploaded.path, orig_name: "drawing.png", meta: { _type: "gradio.FileData" } };
  const joined = await fetch(api, { method: "POST", headers: { "Content-Type": "application/json" },
                                    body: JSON.stringify({ data: [file, props.model || "", props.model_class || ""] }) });
  if (!joined.ok) throw new Error(`the server refused the drawing (HTTP ${joined.status})`);
  const { event_id } = await joined.json();
  const [result] = await resultOf(`${api}/${event_id}`);
  await imageFrom(result.url);   // decoded before it replaces the photo on screen: no flicker
  return result.url;
}

// The data of the event stream's "complete" message; its error message as an Error otherwise.
async function resultOf(url) {
  const response = await fetch(url);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null");
      if (event === "complete") { reader.cancel(); return data; }
      if (event === "error") { reader.cancel(); throw new Error(data?.error || data || "the model failed"); }
    }
  }
  throw new Error("the server closed the connection without a photo");
}

function show(version, url, elapsed) {
  state.shown = version;
  state.photoUrl = url;
  root.dataset.shown = version;
  if (url) {
    photo.src = url;
    photo.hidden = false;
    hint.hidden = true;
    state.photos += 1;
    root.dataset.photos = state.photos;
    setStatus(`Photo in ${Math.round(elapsed)} ms`);
  } else {
    photo.removeAttribute("src");
    photo.hidden = true;
    hint.hidden = false;
    hint.textContent = props.blank_hint;
    setStatus("");
  }
  refreshButtons();
}

function setStatus(text, error = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("lc-error", error);
}

// -- tools -----------------------------------------------------------------------------------------
function refreshButtons() {
  for (const button of root.querySelectorAll("[data-tool]"))
    button.setAttribute("aria-pressed", String(button.dataset.tool === state.tool));
  for (const button of root.querySelectorAll("[data-size]"))
    button.setAttribute("aria-pressed", String(Number(button.dataset.size) === state.sizeIndex));
  for (const button of root.querySelectorAll("[data-color]"))
    button.setAttribute("aria-checked", String(button.dataset.color === state.color && state.tool === "pen"));
  root.querySelector("[data-action=undo]").disabled = !state.undo.length;
  root.querySelector("[data-action=redo]").disabled = !state.redo.length;
  root.querySelector("[data-action=save]").disabled = !state.photoUrl;
}

async function savePhoto() {
  if (!state.photoUrl) return;
  const blob = await (await fetch(state.photoUrl)).blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = props.save_name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}

async function randomExample() {
  try {
    place(await imageFrom(await server.random_example(props.model || "")));
  } catch (error) {
    setStatus(`no example: ${error.message || error}`, true);
  }
}

const actions = {
  undo: () => step(state.undo, state.redo),
  redo: () => step(state.redo, state.undo),
  clear: () => { remember(); fillPaper(); changed(); },
  example: randomExample,
  upload: () => fileInput.click(),
  save: savePhoto,
};

root.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button || !root.contains(button)) return;
  slot.active = element;
  if (button.dataset.tool) state.tool = button.dataset.tool;
  if (button.dataset.size) state.sizeIndex = Number(button.dataset.size);
  if (button.dataset.color) { state.color = button.dataset.color; state.tool = "pen"; }
  if (button.dataset.action) actions[button.dataset.action]();
  refreshButtons();
});

fileInput.addEventListener("change", async () => {
  const file = fileInput.files[0];
  fileInput.value = "";
  if (!file) return;
  try {
    place(await createImageBitmap(file));
  } catch {
    setStatus(`${file.name} is not an image this browser can read`, true);
  }
});

function shown(node) {
  return node.isConnected && node.getClientRects().length > 0;
}

// Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y) for the canvas on screen that was used last; never while typing.
document.addEventListener("keydown", (event) => {
  if (!(event.ctrlKey || event.metaKey) || !shown(root)) return;
  if (slot.active && slot.active !== element && shown(slot.active)) return;
  const target = event.target;
  const typing = target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  if (typing && !root.contains(target)) return;
  const key = event.key.toLowerCase();
  if (key === "z" && !event.shiftKey) actions.undo();
  else if ((key === "z" && event.shiftKey) || key === "y") actions.redo();
  else return;
  event.preventDefault();
});

// Only a canvas on screen asks for photos: a hidden tab loads no model until it is opened.
new IntersectionObserver((entries) => {
  state.visible = entries.some((entry) => entry.isIntersecting) || shown(canvas);
  schedule();
}).observe(canvas);

watch(["model", "size", "browser_model", "model_class"], () => changed());

(async () => {
  fillPaper();
  if (props.initial) {
    try {
      ctx.drawImage(await imageFrom(props.initial), 0, 0, SIDE, SIDE);
    } catch {
      fillPaper();
    }
  }
  refreshButtons();
  changed();
})();
