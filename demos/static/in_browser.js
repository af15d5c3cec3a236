// In-browser inference for the live canvas (demos/static/live_canvas.js): the model's browser.onnx run
// by the vendored onnxruntime-web (WebAssembly, one thread, main thread), with the server's own
// preprocessing, so a stroke's photo needs no request. demos/browser_models.py serves the files and
// describes the model (`spec`: url, size, input_nc, output_nc, preprocess, thin_drawings, palette,
// classes, session_config, runtime). A model with classes (a pix2pix class input, e.g. a cat's coat)
// takes one more input plane per class after the image's: 1 everywhere for the chosen class, else 0.
//
// Preprocessing replicates the server's exactly on the same small canvas the server would receive:
// drawings as engine.edges.normalize_drawing (ink = 255 - darkest channel, inverted when the median is
// dark, threshold at paper + max(40, 25 % of the 99.5th percentile's contrast), 8-connected specks under
// 4 pixels removed, Zhang-Suen thinning when the model was trained on thin lines); label maps as
// demos.render.snap_labels (nearest class colour); then engine.images.to_tensor ([-1, 1]; one channel
// as PIL's L) and to_pil on the way out.

const DRAWING_MIN_CONTRAST = 40;
const DRAWING_CONTRAST_FRACTION = 0.25;
const DRAWING_MIN_SPECK = 4;
const runtimes = new Map();   // runtime URL -> the onnxruntime-web module
const models = new Map();     // model URL -> Promise of a runner

/** Whether this page may run models itself: WebAssembly, and no `?inference=server` in its URL. */
export function supported() {
  return typeof WebAssembly === "object" && new URLSearchParams(location.search).get("inference") !== "server";
}

/** The app's root URL (Gradio's, else the page's folder), ending in "/". */
export function appRoot() {
  const root = window.gradio_config?.root || new URL(".", location.href).href;
  return root.endsWith("/") ? root : root + "/";
}

async function runtime(spec) {
  const base = new URL(spec.runtime, appRoot()).href;
  if (!runtimes.has(base)) {
    const ort = await import(new URL("ort.wasm.bundle.min.mjs", base).href);
    ort.env.wasm.wasmPaths = base;
    ort.env.wasm.numThreads = 1;   // threads need a cross-origin isolated page, which Gradio's is not
    runtimes.set(base, ort);
  }
  return runtimes.get(base);
}

/** A runner for `spec` (loaded once per model URL): { photo(canvas, className) -> PNG data URL, spec }. */
export function loadModel(spec) {
  if (!models.has(spec.url)) {
    const loading = (async () => {
      const ort = await runtime(spec);
      const extra = {};
      for (const [key, value] of Object.entries(spec.session_config || {})) {
        const [group, ...rest] = key.split(".");
        (extra[group] ??= {})[rest.join(".")] = value;
      }
      const session = await ort.InferenceSession.create(new URL(spec.url, appRoot()).href, {
        executionProviders: ["wasm"], graphOptimizationLevel: "all", extra });
      return { spec, photo: (canvas, className) => photo(ort, session, spec, canvas, className) };
    })();
    loading.catch(() => models.delete(spec.url));   // a later call may try again
    models.set(spec.url, loading);
  }
  return models.get(spec.url);
}

async function photo(ort, session, spec, canvas, className = "") {
  const side = spec.size;
  const pixels = canvas.getContext("2d").getImageData(0, 0, side, side).data;
  const rgb = spec.preprocess === "labels" ? snapLabels(pixels, spec.palette)
            : spec.preprocess === "drawing" ? grayToRgb(normalizeDrawing(pixels, side, side, spec.thin_drawings))
            : dropAlpha(pixels);
  const classes = spec.classes || [];
  const image = toTensor(rgb, spec.input_nc);
  const data = new Float32Array(image.length + classes.length * side * side);   // zeros: no class
  data.set(image);
  const chosen = classes.indexOf(className);
  if (chosen >= 0) data.fill(1, image.length + chosen * side * side, image.length + (chosen + 1) * side * side);
  const channels = spec.input_nc + classes.length;
  const input = new ort.Tensor("float32", data, [1, channels, side, side]);
  const { output } = await session.run({ input });
  return toDataUrl(output.data, spec.output_nc, side);
}

// -- the server's preprocessing ---------------------------------------------------------------------
function dropAlpha(rgba) {
  const rgb = new Uint8Array(rgba.length / 4 * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2];
  }
  return rgb;
}

function grayToRgb(gray) {
  const rgb = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = gray[i];
  return rgb;
}

/** numpy.percentile (linear) of integer values 0..255 given by their histogram of `count` values. */
function percentile(histogram, count, q) {
  const position = (q / 100) * (count - 1);
  const below = Math.floor(position);
  const valueAt = (rank) => {
    let seen = 0;
    for (let value = 0; value < 256; value++) {
      seen += histogram[value];
      if (seen > rank) return value;
    }
    return 255;
  };
  const low = valueAt(below);
  return low + (position - below) * (valueAt(Math.min(below + 1, count - 1)) - low);
}

/** engine.edges.normalize_drawing of RGBA pixels: 0 = line, 255 = paper, one byte per pixel. */
export function normalizeDrawing(rgba, width, height, thin) {
  const count = width * height;
  const ink = new Uint8Array(count);
  const histogram = new Float64Array(256);
  for (let i = 0; i < count; i++) {
    ink[i] = 255 - Math.min(rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]);
    histogram[ink[i]] += 1;
  }
  if (percentile(histogram, count, 50) > 127.5) {   // light lines on dark paper
    histogram.fill(0);
    for (let i = 0; i < count; i++) histogram[(ink[i] = 255 - ink[i])] += 1;
  }
  const paper = percentile(histogram, count, 50);
  const peak = percentile(histogram, count, 99.5);
  const threshold = paper + Math.max(DRAWING_MIN_CONTRAST, DRAWING_CONTRAST_FRACTION * (peak - paper));
  let strokes = new Uint8Array(count);
  for (let i = 0; i < count; i++) strokes[i] = ink[i] > threshold ? 1 : 0;
  strokes = withoutSpecks(strokes, width, height, DRAWING_MIN_SPECK);
  if (thin) strokes = thinLines(strokes, width, height);
  return strokes.map((line) => (line ? 0 : 255));
}

/** The mask without its 8-connected components of fewer than `minSize` pixels. */
function withoutSpecks(mask, width, height, minSize) {
  const label = new Int32Array(mask.length).fill(-1);
  const stack = [], members = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || label[start] >= 0) continue;
    stack.push(start);
    label[start] = start;
    members.length = 0;
    while (stack.length) {
      const p = stack.pop();
      members.push(p);
      const x = p % width, y = (p - x) / width;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const nx = x + dx, ny = y + dy, q = ny * width + nx;
        if (nx < 0 || ny < 0 || nx >= width || ny >= height || !mask[q] || label[q] >= 0) continue;
        label[q] = start;
        stack.push(q);
      }
    }
    if (members.length < minSize) for (const p of members) mask[p] = 0;
  }
  return mask;
}

// Zhang-Suen thinning as engine.edges.thin_lines: neighbour codes P2..P9 clockwise from north, bit 0 = P2.
const NEIGHBORS = [[0, -1], [1, -1], [1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0], [-1, -1]];
const ZHANG_SUEN = [false, true].map((secondPass) => {
  const table = new Uint8Array(256);
  for (let code = 0; code < 256; code++) {
    const p = NEIGHBORS.map((_, bit) => (code >> bit) & 1);
    const neighbors = p.reduce((a, b) => a + b, 0);
    const transitions = p.filter((value, k) => value === 0 && p[(k + 1) % 8] === 1).length;
    const [p2, , p4, , p6, , p8] = p;
    const sideClear = secondPass ? p2 * p4 * p8 === 0 && p2 * p6 * p8 === 0 : p2 * p4 * p6 === 0 && p4 * p6 * p8 === 0;
    table[code] = neighbors >= 2 && neighbors <= 6 && transitions === 1 && sideClear ? 1 : 0;
  }
  return table;
});

function thinLines(mask, width, height) {
  const codes = new Uint8Array(mask.length);
  for (let changed = true; changed;) {
    changed = false;
    for (const table of ZHANG_SUEN) {
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
        let code = 0;
        NEIGHBORS.forEach(([dx, dy], bit) => {
          const nx = x + dx, ny = y + dy;
          if (nx >= 0 && ny >= 0 && nx < width && ny < height && mask[ny * width + nx]) code |= 1 << bit;
        });
        codes[y * width + x] = code;
      }
      for (let i = 0; i < mask.length; i++) {
        if (mask[i] && table[codes[i]]) { mask[i] = 0; changed = true; }
      }
    }
  }
  return mask;
}

/** demos.render.snap_labels: every pixel to the nearest class colour (the first on a tie). */
function snapLabels(rgba, palette) {
  const rgb = new Uint8Array(rgba.length / 4 * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    let best = 0, bestDistance = Infinity;
    palette.forEach(([r, g, b], k) => {
      const distance = (rgba[i] - r) ** 2 + (rgba[i + 1] - g) ** 2 + (rgba[i + 2] - b) ** 2;
      if (distance < bestDistance) { best = k; bestDistance = distance; }
    });
    [rgb[j], rgb[j + 1], rgb[j + 2]] = palette[best];
  }
  return rgb;
}

/** engine.images.to_tensor: CHW float32 in [-1, 1]; one channel is PIL's L of the RGB. */
function toTensor(rgb, channels) {
  const count = rgb.length / 3;
  const tensor = new Float32Array(channels * count);
  for (let i = 0; i < count; i++) {
    const r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
    if (channels === 1) {
      tensor[i] = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) / 127.5 - 1;
    } else {
      tensor[i] = r / 127.5 - 1;
      tensor[count + i] = g / 127.5 - 1;
      tensor[2 * count + i] = b / 127.5 - 1;
    }
  }
  return tensor;
}

/** engine.images.to_pil of a 1xCxHxW output in [-1, 1], as a PNG data URL. */
function toDataUrl(data, channels, side) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = side;
  const context = canvas.getContext("2d");
  const image = context.createImageData(side, side);
  const count = side * side;
  const level = (value) => Math.min(255, Math.max(0, Math.round(((Number.isNaN(value) ? -1 : value) + 1) * 127.5)));
  for (let i = 0; i < count; i++) {
    for (let c = 0; c < 3; c++) image.data[4 * i + c] = level(data[(channels === 1 ? 0 : c) * count + i]);
    image.data[4 * i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
  return canvas.toDataURL("image/png");
}
