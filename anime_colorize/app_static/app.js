// The colouring page: paints colour hints over an uploaded drawing and asks the server
// (anime_colorize.app) to colour it. Everything happens at the picture's own resolution:
// the hint canvas is as large as the picture and is only scaled for display, so the hint
// files it downloads are those the colorize command reads
// (anime_colorize.data.hints.hints_from_stroke_png / hints_from_points_json).
"use strict";

const $ = (id) => document.getElementById(id);
const SWATCHES = ["#e0463c", "#f08a3c", "#f2c53d", "#8bc34a", "#3fa36b", "#3cb4c8", "#3c7de0", "#7a4fd0",
                  "#d0508c", "#f7d2bd", "#e8b08f", "#a86b4c", "#5b3a29", "#222222", "#9e9e9e", "#ffffff"];

const state = {
  info: null,
  picture: null,      // {name, dataUrl (the upload, sent as is), width, height, previewUrl}
  reference: null,    // {name, dataUrl}
  actions: [],        // the hint history: stroke / point / bitmap / clear; replayed on undo
  undone: [],
  nextPointId: 1,
  points: new Map(),  // id -> {x, y, rgb, size}, derived from actions
  tool: "brush",
  color: "#e0463c",
  size: 12,
  zoom: "fit",
  background: "drawing",
  result: null,       // {seed, urls: [object URLs], blobs, selected, width, height, fullBlobs, body}
  lastBody: null,     // the request that made the result (downloads colour it again at full size)
  busy: false,
  pending: false,
  autoTimer: null,
  drawing: null,      // the stroke being painted
  pickCache: new Map(),
};

const hintCanvas = $("hint-canvas");
const hintCtx = hintCanvas.getContext("2d", { willReadFrequently: true });

// ---------------------------------------------------------------------------------------------
// status line

function setStatus(text, kind = "") {
  const el = $("status");
  el.textContent = text;
  el.className = kind;
}

function showError(message) {
  setStatus(message, "error");
}

function megabytes(n) {
  return (n / 1048576).toFixed(1) + " MB";
}

// ---------------------------------------------------------------------------------------------
// server calls

async function readAnswer(response) {
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = null;
  }
  if (!response.ok) {
    const message = data && data.error ? data.error : `the server answered ${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  if (data === null) throw new Error("the server's answer could not be read");
  return data;
}

async function postJson(path, body) {
  const text = JSON.stringify(body);
  if (state.info && text.length > state.info.max_upload_bytes) {
    throw new Error(`this request would be ${megabytes(text.length)}; the server accepts at most ` +
                    `${megabytes(state.info.max_upload_bytes)} (picture, hint layer and reference together)`);
  }
  let response;
  try {
    response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: text });
  } catch (e) {
    throw new Error("cannot reach the colouring server (is it still running?)");
  }
  return readAnswer(response);
}

function base64ToBlob(b64, type = "image/png") {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type });
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error(`${file.name} could not be read`));
    reader.readAsDataURL(file);
  });
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser could not show this image"));
    img.src = url;
  });
}

function checkFileSize(file) {
  const limit = state.info ? state.info.max_upload_bytes : Infinity;
  if (file.size === 0) throw new Error(`${file.name} is empty (0 bytes)`);
  if (Math.ceil(file.size / 3) * 4 > limit) {
    throw new Error(`${file.name} is ${megabytes(file.size)}; the server accepts uploads up to about ` +
                    `${megabytes(limit * 3 / 4)} (its --max-upload-mb setting)`);
  }
}

// ---------------------------------------------------------------------------------------------
// model information

async function loadInfo() {
  try {
    state.info = await readAnswer(await fetch("/api/info"));
  } catch (e) {
    $("model-info").textContent = "";
    showError("cannot load the model information: " + e.message);
    return;
  }
  const info = state.info;
  const hints = info.hint_kinds.length ? info.hint_kinds.join(", ") : "none";
  $("model-info").textContent = `model ${info.model} · ${info.input_kind} input · hints: ${hints}`;
  $("variants-input").max = info.max_variants;
  $("variants-input").value = Math.min(4, info.max_variants);
  const sizes = $("working-size-select");
  for (let size = info.working_size; size <= info.max_working_size; size *= 2) {
    const option = document.createElement("option");
    option.value = String(size);
    option.textContent = `${size} px` + (size === info.trained_size ? " (trained)" : "");
    sizes.appendChild(option);
  }
  if (!info.spatial_hints) {
    $("hint-tools").classList.add("disabled");
    $("hint-note").textContent = "This model was trained without stroke or point hints (--hints none): " +
      "it colours on its own. Try the noise variants.";
  }
  if (!info.reference_hints) {
    $("reference-tools").classList.add("disabled");
    $("reference-note").textContent = "This model was trained without reference pictures.";
  }
  updateButtons();
}

// ---------------------------------------------------------------------------------------------
// the picture

async function openPicture(file) {
  if (!file) return;
  try {
    checkFileSize(file);
    setStatus(`Reading ${file.name}…`, "busy");
    const dataUrl = await readFile(file);
    const answer = await postJson("/api/prepare", { image: dataUrl });
    const previewUrl = URL.createObjectURL(base64ToBlob(answer.preview));
    const old = state.picture;
    const sameSize = old && old.width === answer.width && old.height === answer.height;
    if (old) URL.revokeObjectURL(old.previewUrl);
    state.picture = { name: file.name, dataUrl, width: answer.width, height: answer.height, previewUrl };
    state.pickCache.clear();
    await loadImage(previewUrl);
    $("background").src = previewUrl;
    hintCanvas.width = answer.width;
    hintCanvas.height = answer.height;
    if (!sameSize) {
      state.actions = [];
      state.undone = [];
      state.size = Math.max(3, Math.round(Math.min(answer.width, answer.height) / 50));
      $("size-input").max = Math.max(200, Math.round(Math.min(answer.width, answer.height) / 4));
      $("size-input").value = state.size;
    }
    replay();
    clearResult();
    $("stage").hidden = false;
    $("empty-message").hidden = true;
    $("picture-info").textContent = `${file.name} · ${answer.width}×${answer.height} px` +
      (sameSize && state.actions.length ? " · hints kept (same size)" : "");
    setBackground("drawing");
    layoutStage();
    updateSize();
    setStatus(`Opened ${file.name}`, "ok");
    scheduleColorize(0);
  } catch (e) {
    showError(e.message);
  }
  updateButtons();
}

function stem() {
  const name = state.picture ? state.picture.name : "picture";
  return name.replace(/\.[^.]*$/, "") || "picture";
}

// ---------------------------------------------------------------------------------------------
// hint history: every change is an action; undo replays the rest from an empty layer

function rgbOf(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function hexOf(rgb) {
  return "#" + rgb.map((c) => c.toString(16).padStart(2, "0")).join("");
}

function drawStroke(ctx, action, from = 0) {
  const p = action.pts;
  ctx.save();
  ctx.globalCompositeOperation = action.erase ? "destination-out" : "source-over";
  ctx.strokeStyle = ctx.fillStyle = action.erase ? "#000" : action.color;
  ctx.lineWidth = action.size;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  if (p.length === 2) {
    ctx.arc(p[0], p[1], action.size / 2, 0, 2 * Math.PI);
    ctx.fill();
  } else {
    const start = Math.max(0, from - 2);
    ctx.moveTo(p[start], p[start + 1]);
    for (let i = start + 2; i < p.length; i += 2) ctx.lineTo(p[i], p[i + 1]);
    ctx.stroke();
  }
  ctx.restore();
}

function apply(action) {
  if (action.type === "stroke") {
    drawStroke(hintCtx, action);
    for (const id of action.removedPoints || []) state.points.delete(id);
  } else if (action.type === "point") {
    state.points.set(action.id, { x: action.x, y: action.y, rgb: action.rgb, size: action.size });
  } else if (action.type === "bitmap") {
    hintCtx.drawImage(action.image, 0, 0);
  } else if (action.type === "clear") {
    hintCtx.clearRect(0, 0, hintCanvas.width, hintCanvas.height);
    state.points.clear();
  }
}

function replay() {
  hintCtx.clearRect(0, 0, hintCanvas.width, hintCanvas.height);
  state.points.clear();
  for (const action of state.actions) apply(action);
  renderPoints();
  updateButtons();
}

function commit(action, applied = false) {
  state.actions.push(action);
  state.undone = [];
  if (!applied) apply(action);
  renderPoints();
  updateButtons();
  hintsChanged();
}

function undo() {
  if (!state.actions.length) return;
  state.undone.push(state.actions.pop());
  replay();
  hintsChanged();
}

function redo() {
  if (!state.undone.length) return;
  state.actions.push(state.undone.pop());
  replay();
  hintsChanged();
}

function clearHints() {
  if (!state.actions.length) return;
  commit({ type: "clear" });
}

function renderPoints() {
  const layer = $("points-layer");
  layer.replaceChildren();
  if (!state.picture) return;
  const { width, height } = state.picture;
  for (const [id, p] of state.points) {
    const el = document.createElement("div");
    el.className = "point";
    el.dataset.id = id;
    el.title = `point (${p.x}, ${p.y}) ${hexOf(p.rgb)}`;
    el.style.left = `${((p.x + 0.5) / width) * 100}%`;
    el.style.top = `${((p.y + 0.5) / height) * 100}%`;
    el.style.width = `${(p.size / width) * 100}%`;
    el.style.height = `${(p.size / height) * 100}%`;
    el.style.background = hexOf(p.rgb);
    layer.appendChild(el);
  }
}

// The hint layer as the colorize command reads it: alpha is cut at one half, as
// hints_from_stroke_png does, so the file holds exactly the hints the server used.
function strokeLayerCanvas() {
  if (!state.picture) return null;
  const { width, height } = state.picture;
  const image = hintCtx.getImageData(0, 0, width, height);
  const d = image.data;
  let any = false;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] >= 128) {
      d[i + 3] = 255;
      any = true;
    } else {
      d[i] = d[i + 1] = d[i + 2] = d[i + 3] = 0;
    }
  }
  if (!any) return null;
  const out = document.createElement("canvas");
  out.width = width;
  out.height = height;
  out.getContext("2d").putImageData(image, 0, 0);
  return out;
}

function pointsJson() {
  return { points: [...state.points.values()].map((p) => ({ x: p.x, y: p.y, rgb: p.rgb, size: p.size })) };
}

// ---------------------------------------------------------------------------------------------
// painting

function imagePoint(event) {
  const rect = hintCanvas.getBoundingClientRect();
  const { width, height } = state.picture;
  return {
    x: Math.min(width - 1, Math.max(0, ((event.clientX - rect.left) * width) / rect.width)),
    y: Math.min(height - 1, Math.max(0, ((event.clientY - rect.top) * height) / rect.height)),
  };
}

function pickColor(event) {
  const source = state.background === "result" && state.result ? state.result.urls[state.result.selected]
                                                               : state.picture.previewUrl;
  const { x, y } = imagePoint(event);
  const img = $("background");
  let ctx = state.pickCache.get(source);
  if (!ctx) {
    const c = document.createElement("canvas");
    c.width = state.picture.width;
    c.height = state.picture.height;
    ctx = c.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(img, 0, 0, c.width, c.height);
    state.pickCache.set(source, ctx);
  }
  const [r, g, b] = ctx.getImageData(Math.floor(x), Math.floor(y), 1, 1).data;
  setColor(hexOf([r, g, b]));
  setStatus(`Picked ${hexOf([r, g, b])}`, "ok");
}

function pointsNear(x, y, radius) {
  const hit = [];
  for (const [id, p] of state.points) {
    const reach = radius + p.size / 2;
    if (Math.abs(p.x - x) <= reach && Math.abs(p.y - y) <= reach) hit.push(id);
  }
  return hit;
}

function onPointerDown(event) {
  if (!state.picture || event.button !== 0) return;
  if (state.info && !state.info.spatial_hints && state.tool !== "pick" && !event.altKey) {
    showError("this model takes no stroke or point hints");
    return;
  }
  event.preventDefault();  // this also keeps the focus where it was: take it off a select, for the shortcuts
  if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
  if (state.tool === "pick" || event.altKey) {
    pickColor(event);
    return;
  }
  const { x, y } = imagePoint(event);
  if (state.tool === "point") {
    const px = Math.floor(x), py = Math.floor(y);
    commit({ type: "point", id: state.nextPointId++, x: px, y: py, rgb: rgbOf(state.color), size: state.size });
    return;
  }
  hintCanvas.setPointerCapture(event.pointerId);
  const erase = state.tool === "eraser";
  state.drawing = { type: "stroke", erase, color: state.color, size: state.size, pts: [x, y], removedPoints: [] };
  drawStroke(hintCtx, state.drawing);
  if (erase) erasePoints(x, y);
}

function erasePoints(x, y) {
  const hit = pointsNear(x, y, state.drawing.size / 2);
  if (!hit.length) return;
  for (const id of hit) {
    state.points.delete(id);
    state.drawing.removedPoints.push(id);
  }
  renderPoints();
}

function onPointerMove(event) {
  moveCursor(event);
  if (!state.drawing) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  const pts = state.drawing.pts;
  const from = pts.length;
  for (const e of events.length ? events : [event]) {
    const { x, y } = imagePoint(e);
    pts.push(x, y);
    if (state.drawing.erase) erasePoints(x, y);
  }
  drawStroke(hintCtx, state.drawing, from);
}

function onPointerUp() {
  if (!state.drawing) return;
  const action = state.drawing;
  state.drawing = null;
  commit(action, true);
}

function moveCursor(event) {
  const cursor = $("brush-cursor");
  if (!state.picture || state.tool === "pick") {
    cursor.style.display = "none";
    return;
  }
  const rect = hintCanvas.getBoundingClientRect();
  const scale = rect.width / state.picture.width;
  const d = Math.max(4, state.size * scale);
  cursor.style.display = "block";
  cursor.style.width = cursor.style.height = `${d}px`;
  cursor.style.borderRadius = state.tool === "point" ? "0" : "50%";
  cursor.style.left = `${event.clientX - rect.left}px`;
  cursor.style.top = `${event.clientY - rect.top}px`;
}

// ---------------------------------------------------------------------------------------------
// colouring

function hintsChanged() {
  if ($("auto-input").checked) scheduleColorize(350);
}

function scheduleColorize(delay) {
  clearTimeout(state.autoTimer);
  state.autoTimer = setTimeout(() => colorize(), delay);
}

function readNumber(input, low, high, name) {
  const value = Number(input.value);
  if (!Number.isInteger(value) || value < low || value > high) {
    throw new Error(`${name} must be a whole number from ${low} to ${high}`);
  }
  return value;
}

// What the server needs to colour the picture with the hints as they are now.
function requestBody() {
  const body = {
    image: state.picture.dataUrl,
    variants: readNumber($("variants-input"), 1, state.info ? state.info.max_variants : 8, "Variants"),
    seed: readNumber($("seed-input"), 0, 2147483647, "Seed"),
  };
  const layer = strokeLayerCanvas();
  if (layer) body.hints_png = layer.toDataURL("image/png");
  if (state.points.size) body.points = pointsJson();
  if (state.reference) body.reference = state.reference.dataUrl;
  const workingSize = Number($("working-size-select").value);
  if (state.info && workingSize && workingSize !== state.info.working_size) body.working_size = workingSize;
  return body;
}

async function colorize() {
  if (!state.picture) {
    showError("upload a drawing first");
    return;
  }
  if (state.busy) {
    state.pending = true; // the hints changed while colouring: colour again when it is done
    return;
  }
  let body;
  try {
    body = requestBody();
  } catch (e) {
    showError(e.message);
    return;
  }
  const preview = $("preview-select").value;
  if (preview !== "full") body.max_side = Number(preview);
  state.busy = true;
  state.pending = false;
  updateButtons();
  setStatus("Colouring…", "busy");
  try {
    const answer = await postJson("/api/colorize", body);
    state.lastBody = body;
    showResult(answer);
    const notes = answer.warnings && answer.warnings.length ? " · " + answer.warnings.join("; ") : "";
    setStatus(`Coloured in ${answer.seconds.toFixed(1)} s${notes}`, "ok");
  } catch (e) {
    showError(e.message);
  } finally {
    state.busy = false;
    updateButtons();
    if (state.pending) scheduleColorize(0);
  }
}

function clearResult() {
  if (state.result) state.result.urls.forEach((u) => URL.revokeObjectURL(u));
  state.result = null;
  $("variants").replaceChildren();
  $("result-image").hidden = true;
  $("result-empty").hidden = false;
  $("result-info").textContent = "";
  if (state.background === "result") setBackground("drawing");
}

function showResult(answer) {
  const keep = state.result ? Math.min(state.result.selected, answer.variants.length - 1) : 0;
  const blobs = answer.variants.map((b64) => base64ToBlob(b64));
  const old = state.result;
  state.result = { seed: answer.seed, variants: answer.variants.length, blobs,
                   urls: blobs.map((b) => URL.createObjectURL(b)), selected: keep, width: answer.width,
                   height: answer.height, fullWidth: answer.full_width, fullHeight: answer.full_height,
                   body: state.lastBody, fullBlobs: [], referenceName: state.reference && state.reference.name };
  state.result.fullSize = answer.width === answer.full_width && answer.height === answer.full_height;
  const strip = $("variants");
  strip.replaceChildren();
  state.result.urls.forEach((url, k) => {
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("role", "option");
    button.title = `variant ${k + 1} (seed ${answer.seed})`;
    const img = document.createElement("img");
    img.src = url;
    img.alt = `variant ${k + 1}`;
    button.appendChild(img);
    button.addEventListener("click", () => selectVariant(k));
    strip.appendChild(button);
  });
  selectVariant(keep);
  updateCommandLine();
  if (old) old.urls.forEach((u) => URL.revokeObjectURL(u));
}

function selectVariant(k) {
  if (!state.result) return;
  state.result.selected = k;
  [...$("variants").children].forEach((b, i) => b.setAttribute("aria-selected", String(i === k)));
  const img = $("result-image");
  img.src = state.result.urls[k];
  img.hidden = false;
  $("result-empty").hidden = true;
  const r = state.result;
  $("result-info").textContent = `variant ${k + 1} of ${r.urls.length} · seed ${r.seed} · ` +
    (r.fullSize ? `${r.width}×${r.height} px` : `preview ${r.width}×${r.height} px (downloads: ${r.fullWidth}×${r.fullHeight})`);
  if (state.background === "result") $("background").src = state.result.urls[k];
  updateButtons();
}

// ---------------------------------------------------------------------------------------------
// reference picture and hint files

async function openReference(file) {
  if (!file) return;
  try {
    checkFileSize(file);
    const dataUrl = await readFile(file);
    await postJson("/api/prepare", { image: dataUrl }); // a clear message now, not at colouring time
    state.reference = { name: file.name, dataUrl };
    $("reference-thumb").src = dataUrl;
    $("reference-box").hidden = false;
    $("reference-note").textContent = file.name;
    hintsChanged();
  } catch (e) {
    showError("reference: " + e.message);
  }
}

function removeReference() {
  state.reference = null;
  $("reference-box").hidden = true;
  $("reference-note").textContent = "A picture whose palette the colouring should follow.";
  hintsChanged();
}

async function openHintFiles(files) {
  if (!state.picture) {
    showError("upload the drawing before its hints");
    return;
  }
  const { width, height } = state.picture;
  try {
    for (const file of files) {
      if (file.name.toLowerCase().endsWith(".json")) {
        let data;
        try {
          data = JSON.parse(await file.text());
        } catch (e) {
          throw new Error(`${file.name} is not valid JSON`);
        }
        if (!data || !Array.isArray(data.points)) throw new Error(`${file.name} has no "points" list`);
        for (const [i, p] of data.points.entries()) {
          const ok = p && Number.isFinite(p.x) && Number.isFinite(p.y) && Array.isArray(p.rgb) && p.rgb.length === 3;
          if (!ok) throw new Error(`${file.name}: points[${i}] needs x, y and rgb`);
          const size = Number.isInteger(p.size) && p.size > 0 ? p.size : 1;
          const x = Math.min(width - 1, Math.max(0, Math.round(p.x)));
          const y = Math.min(height - 1, Math.max(0, Math.round(p.y)));
          commit({ type: "point", id: state.nextPointId++, x, y, rgb: p.rgb.map((c) => Math.round(c)), size });
        }
      } else {
        const img = await loadImage(await readFile(file));
        if (img.naturalWidth !== width || img.naturalHeight !== height) {
          throw new Error(`${file.name} is ${img.naturalWidth}×${img.naturalHeight}; the drawing is ${width}×${height}`);
        }
        commit({ type: "bitmap", image: img });
      }
    }
    setStatus("Hints loaded", "ok");
  } catch (e) {
    showError(e.message);
  }
}

// ---------------------------------------------------------------------------------------------
// downloads

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Previews are coloured small; the download is the chosen variant coloured again at the
// upload's full size, with the hints the preview was made with.
async function downloadResult() {
  const r = state.result;
  if (!r) return;
  const k = r.selected;
  const name = `${stem()}_colored_seed${r.seed}_${k}.png`;
  if (r.fullSize) {
    download(r.blobs[k], name);
    return;
  }
  if (!r.fullBlobs[k]) {
    const button = $("download-result");
    button.disabled = true;
    setStatus(`Colouring variant ${k + 1} at ${r.fullWidth}×${r.fullHeight} px…`, "busy");
    try {
      const body = Object.assign({}, r.body, { variant: k });
      delete body.max_side;
      const answer = await postJson("/api/colorize", body);
      r.fullBlobs[k] = base64ToBlob(answer.variants[0]);
      setStatus(`Full-size result ready (${answer.seconds.toFixed(1)} s)`, "ok");
    } catch (e) {
      showError(e.message);
      return;
    } finally {
      updateButtons();
    }
  }
  download(r.fullBlobs[k], name);
}

function downloadHintsPng() {
  const layer = strokeLayerCanvas();
  if (!layer) {
    showError("there are no strokes to download");
    return;
  }
  layer.toBlob((blob) => download(blob, `${stem()}_hints.png`), "image/png");
}

// A ZIP of stored (uncompressed) files: enough for two small hint files, and no library.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function zipFiles(files) {
  const encoder = new TextEncoder();
  const local = [], central = [];
  let offset = 0;
  for (const file of files) {
    const name = encoder.encode(file.name);
    const crc = crc32(file.bytes), size = file.bytes.length;
    const head = new DataView(new ArrayBuffer(30));
    head.setUint32(0, 0x04034b50, true);
    head.setUint16(4, 20, true);       // version needed: 2.0
    head.setUint16(6, 0x0800, true);   // UTF-8 names
    head.setUint16(12, 0x21, true);    // 1980-01-01
    head.setUint32(14, crc, true);
    head.setUint32(18, size, true);
    head.setUint32(22, size, true);
    head.setUint16(26, name.length, true);
    local.push(head, name, file.bytes);
    const entry = new DataView(new ArrayBuffer(46));
    entry.setUint32(0, 0x02014b50, true);
    entry.setUint16(4, 20, true);
    entry.setUint16(6, 20, true);
    entry.setUint16(8, 0x0800, true);
    entry.setUint16(14, 0x21, true);
    entry.setUint32(16, crc, true);
    entry.setUint32(20, size, true);
    entry.setUint32(24, size, true);
    entry.setUint16(28, name.length, true);
    entry.setUint32(42, offset, true);
    central.push(entry, name);
    offset += 30 + name.length + size;
  }
  const centralSize = central.reduce((sum, part) => sum + part.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, files.length, true);
  end.setUint16(10, files.length, true);
  end.setUint32(12, centralSize, true);
  end.setUint32(16, offset, true);
  return new Blob([...local, ...central, end], { type: "application/zip" });
}

function canvasBytes(canvas) {
  return new Promise((resolve) => canvas.toBlob(async (blob) => resolve(new Uint8Array(await blob.arrayBuffer())),
                                                 "image/png"));
}

// hints/NAME.png (strokes) and hints/NAME.json (points): what the colorize command's
// --hints-dir looks for beside an input NAME.*
async function downloadHintsZip() {
  const files = [];
  const layer = strokeLayerCanvas();
  if (layer) files.push({ name: `hints/${stem()}.png`, bytes: await canvasBytes(layer) });
  if (state.points.size) {
    files.push({ name: `hints/${stem()}.json`, bytes: new TextEncoder().encode(JSON.stringify(pointsJson(), null, 1)) });
  }
  if (!files.length) {
    showError("there are no hints to download");
    return;
  }
  download(zipFiles(files), `${stem()}_hints.zip`);
}

function quoteArg(text) {
  return /^[\w.\/:=+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

// The colorize command that makes the shown result's variants at full size.
function updateCommandLine() {
  const r = state.result;
  if (!r || !r.body) return;
  const model = state.info ? state.info.model : "MODEL";
  const parts = ["python -m anime_colorize.colorize", "--model", quoteArg(model), "--input", quoteArg(state.picture.name)];
  if (r.body.hints_png || r.body.points) parts.push("--hints-dir", "hints");
  if (r.body.reference) parts.push("--reference", quoteArg(r.referenceName));
  const workingSize = r.body.working_size || (state.info && state.info.working_size);
  if (state.info && workingSize !== state.info.trained_size) parts.push("--working-size", String(workingSize));
  parts.push("--num-samples", String(r.variants), "--seed", String(r.seed), "--out", "colored");
  $("command-line").textContent = parts.join(" ");
}

function downloadPoints() {
  const text = JSON.stringify(pointsJson(), null, 1);
  download(new Blob([text], { type: "application/json" }), `${stem()}_points.json`);
}

// ---------------------------------------------------------------------------------------------
// controls

function setTool(tool) {
  state.tool = tool;
  document.querySelectorAll(".tool").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.tool === tool)));
  $("stage").classList.toggle("tool-pick", tool === "pick");
}

function setColor(hex) {
  state.color = hex;
  $("color-input").value = hex;
  $("color-text").textContent = hex;
  document.querySelectorAll("#swatches button").forEach((b) => b.classList.toggle("current", b.dataset.color === hex));
  if (state.tool === "eraser" || state.tool === "pick") setTool("brush");
}

function updateSize() {
  state.size = Number($("size-input").value);
  $("size-value").textContent = `${state.size} px`;
}

function setBackground(which) {
  const useResult = which === "result" && state.result;
  state.background = useResult ? "result" : "drawing";
  $("background-select").value = state.background;
  if (state.picture) $("background").src = useResult ? state.result.urls[state.result.selected] : state.picture.previewUrl;
}

function layoutStage() {
  if (!state.picture) return;
  const stage = $("stage");
  const { width, height } = state.picture;
  let scale = Number(state.zoom);
  if (state.zoom === "fit") {
    const view = $("viewport");
    scale = Math.min((view.clientWidth - 24) / width, (view.clientHeight - 24) / height);
  }
  scale = Math.max(scale, 0.01);
  stage.style.width = `${Math.round(width * scale)}px`;
  stage.style.height = `${Math.round(height * scale)}px`;
}

function updateButtons() {
  const hasPicture = Boolean(state.picture);
  $("undo-button").disabled = !state.actions.length;
  $("redo-button").disabled = !state.undone.length;
  $("clear-button").disabled = !state.actions.length;
  $("colorize-button").disabled = !hasPicture;
  $("reseed-button").disabled = !hasPicture;
  $("download-result").disabled = !state.result;
  $("download-hints-png").disabled = !hasPicture || !state.actions.length;
  $("download-points").disabled = !hasPicture || !state.points.size;
  $("download-hints-zip").disabled = !hasPicture || !state.actions.length;
}

function isTyping(event) {
  const t = event.target;
  return t && (t.tagName === "INPUT" && t.type !== "range" && t.type !== "checkbox" || t.tagName === "SELECT");
}

function onKey(event) {
  if (isTyping(event)) return;
  const key = event.key.toLowerCase();
  if ((event.ctrlKey || event.metaKey) && key === "z") {
    event.preventDefault();
    event.shiftKey ? redo() : undo();
  } else if ((event.ctrlKey || event.metaKey) && key === "y") {
    event.preventDefault();
    redo();
  } else if (event.ctrlKey || event.metaKey || event.altKey) {
    return;
  } else if ({ b: 1, p: 1, e: 1, i: 1 }[key]) {
    setTool({ b: "brush", p: "point", e: "eraser", i: "pick" }[key]);
  } else if (key === "[" || key === "]") {
    const input = $("size-input");
    const step = Math.max(1, Math.round(state.size * 0.15));
    input.value = state.size + (key === "]" ? step : -step);
    updateSize();
  } else if (key === "enter" && event.target.tagName !== "BUTTON") {
    colorize();
  }
}

function setupDrop() {
  const views = [$("viewport"), $("result-view")];
  document.addEventListener("dragover", (e) => {
    e.preventDefault();
    views.forEach((v) => v.classList.add("dragging"));
  });
  document.addEventListener("dragleave", (e) => {
    if (e.relatedTarget === null) views.forEach((v) => v.classList.remove("dragging"));
  });
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    views.forEach((v) => v.classList.remove("dragging"));
    const file = e.dataTransfer.files[0];
    if (file) openPicture(file);
  });
}

function setup() {
  for (const color of SWATCHES) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.color = color;
    b.title = color;
    b.style.background = color;
    b.addEventListener("click", () => setColor(color));
    $("swatches").appendChild(b);
  }
  document.querySelectorAll(".tool").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
  $("color-input").addEventListener("input", (e) => setColor(e.target.value));
  $("size-input").addEventListener("input", updateSize);
  $("opacity-input").addEventListener("input", (e) => { hintCanvas.style.opacity = e.target.value / 100; });
  $("undo-button").addEventListener("click", undo);
  $("redo-button").addEventListener("click", redo);
  $("clear-button").addEventListener("click", clearHints);
  $("file-input").addEventListener("change", (e) => { openPicture(e.target.files[0]); e.target.value = ""; });
  $("hints-file-input").addEventListener("change", (e) => { openHintFiles([...e.target.files]); e.target.value = ""; });
  $("reference-input").addEventListener("change", (e) => { openReference(e.target.files[0]); e.target.value = ""; });
  $("reference-remove").addEventListener("click", removeReference);
  $("colorize-button").addEventListener("click", () => colorize());
  $("reseed-button").addEventListener("click", () => {
    $("seed-input").value = Math.floor(Math.random() * 1000000);
    colorize();
  });
  $("download-result").addEventListener("click", downloadResult);
  $("download-hints-png").addEventListener("click", downloadHintsPng);
  $("download-points").addEventListener("click", downloadPoints);
  $("download-hints-zip").addEventListener("click", downloadHintsZip);
  $("preview-select").addEventListener("change", () => { if (state.picture) scheduleColorize(0); });
  $("working-size-select").addEventListener("change", () => { if (state.picture) scheduleColorize(0); });
  $("background-select").addEventListener("change", (e) => setBackground(e.target.value));
  $("zoom-select").addEventListener("change", (e) => { state.zoom = e.target.value; layoutStage(); });
  hintCanvas.addEventListener("pointerdown", onPointerDown);
  hintCanvas.addEventListener("pointermove", onPointerMove);
  hintCanvas.addEventListener("pointerup", onPointerUp);
  hintCanvas.addEventListener("pointercancel", onPointerUp);
  hintCanvas.addEventListener("pointerleave", () => { $("brush-cursor").style.display = "none"; });
  window.addEventListener("resize", layoutStage);
  document.addEventListener("keydown", onKey);
  setupDrop();
  setTool("brush");
  setColor(state.color);
  updateSize();
  updateButtons();
  loadInfo();
}

setup();
