// masklet web annotator: plain JS over the HTTP API (no build step).
"use strict";

const $ = (id) => document.getElementById(id);
// The token may come after # (never sent to the server, so never in its logs) or, as before, after ?.
const token = new URLSearchParams(location.hash.slice(1)).get("token") || new URLSearchParams(location.search).get("token");

const state = {
  session: null,      // the session's info from the service
  frame: 0,           // frame on screen
  objects: [],        // [{id, name, known}] known: the service has prompts for it
  selected: null,     // selected object id
  masks: new Map(),   // frame -> {objId: COCO RLE}
  prompted: new Set(),// frames with prompts
  bitmap: null,       // the frame image on screen
  busy: 0,
  propagating: null,  // AbortController of a running propagation
};
window.masklet = state; // for tests and the console

// -- helpers ----------------------------------------------------------------------

function palette(k) { // the DAVIS palette, as masklet.palette
  let r = 0, g = 0, b = 0, c = k;
  for (let shift = 7; shift >= 0; shift--) {
    r |= (c & 1) << shift; g |= ((c >> 1) & 1) << shift; b |= ((c >> 2) & 1) << shift; c >>= 3;
  }
  return [r, g, b];
}

function rleCounts(counts) { // COCO compressed RLE string -> run lengths
  if (Array.isArray(counts)) return counts;
  const out = [];
  let p = 0;
  while (p < counts.length) {
    let x = 0, k = 0, more = true, c = 0;
    while (more) {
      c = counts.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p++; k++;
      if (!more && (c & 0x10)) x |= -1 << (5 * k);
    }
    if (out.length > 2) x += out[out.length - 2];
    out.push(x);
  }
  return out;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function busy(delta) {
  state.busy += delta;
  document.body.dataset.busy = state.busy > 0 ? "1" : "0";
}

async function api(method, path, body, isForm = false) {
  const headers = {};
  if (token) headers["Authorization"] = `Bearer ${token}`;
  if (body !== undefined && !isForm) headers["Content-Type"] = "application/json";
  busy(1);
  try {
    const res = await fetch(path, { method, headers, body: isForm ? body : body === undefined ? undefined : JSON.stringify(body) });
    if (!res.ok) {
      let detail = res.statusText;
      try { const j = await res.json(); detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); } catch (e) { /* not JSON */ }
      throw new Error(`${res.status}: ${detail}`);
    }
    return res;
  } finally {
    busy(-1);
  }
}

const withToken = (url) => (token ? `${url}?token=${encodeURIComponent(token)}` : url);
const sessionUrl = (rest = "") => `/api/sessions/${state.session.session_id}${rest}`;

// -- opening ----------------------------------------------------------------------

async function openSession(form) {
  setStatus("opening…");
  try {
    if (state.session) api("DELETE", sessionUrl()).catch(() => {});
    const res = await api("POST", "/api/sessions", form, true);
    state.session = await res.json();
    state.objects = []; state.masks = new Map(); state.prompted = new Set(); state.selected = null;
    const canvasW = state.session.width, canvasH = state.session.height;
    for (const id of ["frame", "masks"]) { $(id).width = canvasW; $(id).height = canvasH; }
    $("slider").max = String(state.session.num_frames - 1);
    addObject();
    await setFrame(0);
    updateExports();
    setStatus(`${state.session.name}: ${state.session.width}x${state.session.height}, ${state.session.num_frames} frame(s). Click the object.`);
  } catch (e) {
    setStatus(`could not open: ${e.message}`, true);
  }
}

$("file").addEventListener("change", () => {
  const file = $("file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  openSession(form);
});

$("open-path").addEventListener("click", () => {
  const form = new FormData();
  form.append("path", $("path").value);
  openSession(form);
});

// -- frames and masks -------------------------------------------------------------

async function setFrame(t) {
  if (!state.session) return;
  t = Math.max(0, Math.min(state.session.num_frames - 1, t));
  state.frame = t;
  $("slider").value = String(t);
  $("frame-label").textContent = `frame ${t} / ${state.session.num_frames - 1}`;
  drawMasks();
  const res = await api("GET", sessionUrl(`/frames/${t}`));
  const bitmap = await createImageBitmap(await res.blob());
  if (state.frame !== t) return; // scrubbed on meanwhile
  state.bitmap = bitmap;
  $("frame").getContext("2d").drawImage(bitmap, 0, 0);
}

function drawMasks() {
  const canvas = $("masks");
  const ctx = canvas.getContext("2d");
  const { width: w, height: h } = canvas;
  const frameMasks = state.masks.get(state.frame) || {};
  const image = ctx.createImageData(w, h);
  const data = image.data;
  for (const [objId, rle] of Object.entries(frameMasks)) {
    if (!state.objects.some((o) => o.id === Number(objId))) continue;
    const [r, g, b] = palette(Number(objId));
    const counts = rleCounts(rle.counts);
    let pos = 0;
    for (let i = 0; i < counts.length; i++) {
      if (i % 2 === 1) {
        for (let j = pos; j < pos + counts[i]; j++) { // column-major index -> pixel
          const x = Math.floor(j / h), y = j % h, o = 4 * (y * w + x);
          data[o] = r; data[o + 1] = g; data[o + 2] = b; data[o + 3] = 140;
        }
      }
      pos += counts[i];
    }
  }
  ctx.putImageData(image, 0, 0);
}

function storeMasks(frame, masks) {
  const entry = {};
  for (const m of masks) entry[m.obj_id] = m.rle;
  state.masks.set(frame, entry);
  if (frame === state.frame) drawMasks();
}

$("slider").addEventListener("input", () => setFrame(Number($("slider").value)));
$("prev").addEventListener("click", () => setFrame(state.frame - 1));
$("next").addEventListener("click", () => setFrame(state.frame + 1));
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" && e.target.type === "text") return;
  if (e.key === "ArrowLeft") setFrame(state.frame - 1);
  if (e.key === "ArrowRight") setFrame(state.frame + 1);
});

// -- prompting ----------------------------------------------------------------------

function toVideoCoords(e) {
  const rect = $("masks").getBoundingClientRect();
  return [(e.clientX - rect.left) * ($("masks").width / rect.width), (e.clientY - rect.top) * ($("masks").height / rect.height)];
}

let dragStart = null;
$("masks").addEventListener("contextmenu", (e) => e.preventDefault());
$("masks").addEventListener("mousedown", (e) => {
  if (!state.session) return;
  dragStart = { xy: toVideoCoords(e), client: [e.clientX, e.clientY], negative: e.button === 2 || e.shiftKey };
});
$("masks").addEventListener("mousemove", (e) => {
  if (!dragStart) return;
  const box = $("drag-box"), rect = $("stage").getBoundingClientRect();
  const [x0, y0] = dragStart.client;
  box.hidden = Math.abs(e.clientX - x0) + Math.abs(e.clientY - y0) < 6;
  Object.assign(box.style, {
    left: `${Math.min(x0, e.clientX) - rect.left}px`, top: `${Math.min(y0, e.clientY) - rect.top}px`,
    width: `${Math.abs(e.clientX - x0)}px`, height: `${Math.abs(e.clientY - y0)}px`,
  });
});
$("masks").addEventListener("mouseup", (e) => {
  if (!dragStart) return;
  const start = dragStart;
  dragStart = null;
  $("drag-box").hidden = true;
  const [x, y] = toVideoCoords(e);
  const moved = Math.abs(e.clientX - start.client[0]) + Math.abs(e.clientY - start.client[1]);
  if (moved >= 6) {
    const [x0, y0] = start.xy;
    prompt({ box: [Math.min(x0, x), Math.min(y0, y), Math.max(x0, x), Math.max(y0, y)] });
  } else {
    prompt({ points: [[x, y]], labels: [start.negative ? 0 : 1] });
  }
});

async function prompt(body) {
  if (state.selected === null) addObject();
  const obj = state.objects.find((o) => o.id === state.selected);
  const t0 = performance.now();
  try {
    const res = await api("POST", sessionUrl("/prompts"), { frame: state.frame, obj_id: obj.id, name: obj.name, ...body });
    const out = await res.json();
    obj.known = true;
    state.prompted.add(out.frame);
    storeMasks(out.frame, out.masks);
    const mine = out.masks.find((m) => m.obj_id === obj.id);
    setStatus(`${obj.name}: ${mine ? mine.area : 0} pixels on frame ${out.frame} (${Math.round(performance.now() - t0)} ms)`);
    updateExports();
  } catch (e) {
    setStatus(`prompt failed: ${e.message}`, true);
  }
}

async function segmentEverything() {
  if (!state.session) return;
  setStatus("segmenting everything…");
  const t0 = performance.now();
  try {
    // The service picks thresholds that suit its model (the official ones, lower for masklet-nano).
    const res = await api("POST", sessionUrl("/everything"), { frame: state.frame });
    const out = await res.json();
    for (const id of out.added) {
      if (!state.objects.some((o) => o.id === id)) state.objects.push({ id, name: `object ${id}`, known: true });
    }
    if (out.added.length) state.prompted.add(out.frame);
    storeMasks(out.frame, out.masks);
    renderObjects();
    updateExports();
    setStatus(`${out.added.length} new object(s) on frame ${out.frame} (${Math.round(performance.now() - t0)} ms)`);
  } catch (e) {
    setStatus(`segment everything failed: ${e.message}`, true);
  }
}
$("everything").addEventListener("click", segmentEverything);

// -- objects ------------------------------------------------------------------------

function addObject() {
  const id = state.objects.reduce((m, o) => Math.max(m, o.id), 0) + 1;
  if (id > 255) { setStatus("at most 255 objects", true); return; }
  state.objects.push({ id, name: `object ${id}`, known: false });
  state.selected = id;
  renderObjects();
}

function renderObjects() {
  const list = $("objects");
  list.replaceChildren();
  for (const obj of state.objects) {
    const li = document.createElement("li");
    li.dataset.objId = String(obj.id);
    if (obj.id === state.selected) li.classList.add("selected");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = `rgb(${palette(obj.id).join(",")})`;
    const name = document.createElement("input");
    name.value = obj.name;
    name.setAttribute("aria-label", "object name");
    name.addEventListener("change", () => renameObject(obj, name.value));
    const del = document.createElement("button");
    del.textContent = "✕";
    del.title = "delete object";
    del.addEventListener("click", (e) => { e.stopPropagation(); deleteObject(obj); });
    li.append(swatch, name, del);
    li.addEventListener("click", () => { state.selected = obj.id; renderObjects(); });
    list.append(li);
  }
}

async function renameObject(obj, name) {
  obj.name = name || obj.name;
  if (obj.known) {
    try { await api("PUT", sessionUrl(`/objects/${obj.id}`), { name: obj.name }); } catch (e) { setStatus(e.message, true); }
  }
}

async function deleteObject(obj) {
  try {
    if (obj.known) await api("DELETE", sessionUrl(`/objects/${obj.id}`));
    state.objects = state.objects.filter((o) => o !== obj);
    for (const frame of state.masks.values()) delete frame[obj.id];
    if (state.selected === obj.id) state.selected = state.objects.length ? state.objects[0].id : null;
    renderObjects();
    drawMasks();
  } catch (e) {
    setStatus(`delete failed: ${e.message}`, true);
  }
}

$("add-object").addEventListener("click", addObject);

// -- propagation --------------------------------------------------------------------

async function propagate(direction) {
  if (!state.session || !state.objects.some((o) => o.known)) { setStatus("add a point or a box first", true); return; }
  const prompted = [...state.prompted];
  const start = direction === "forward" ? Math.min(...prompted) : Math.max(...prompted);
  const total = direction === "forward" ? state.session.num_frames - start : start + 1;
  const controller = new AbortController();
  state.propagating = controller;
  setPropagating(true);
  let count = 0, showing = false;
  $("progress").max = total; $("progress").value = 0;
  const headers = { "Content-Type": "application/json" };
  if (token) headers["Authorization"] = `Bearer ${token}`;
  try {
    const res = await fetch(sessionUrl("/propagate"), { method: "POST", headers, body: JSON.stringify({ direction }), signal: controller.signal });
    if (!res.ok) throw new Error(`${res.status}: ${(await res.json()).detail}`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] || "{}");
        if (event === "frame") {
          count++;
          storeMasks(data.frame, data.masks);
          $("progress").value = count;
          $("progress-label").textContent = `${count} / ${total} frames`;
          if (!showing) { // watch the masks fill in, without queueing frame loads
            showing = true;
            setFrame(data.frame).finally(() => { showing = false; });
          }
        } else if (event === "done") {
          setStatus(data.cancelled ? `cancelled after ${data.frames} frames` : `propagated ${direction} over ${data.frames} frames`);
        } else if (event === "error") {
          setStatus(`propagation failed: ${data.error}`, true);
        }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") setStatus(`propagation failed: ${e.message}`, true);
    else setStatus(`cancelled after ${count} frames`);
  } finally {
    state.propagating = null;
    setPropagating(false);
    updateExports();
  }
}

function setPropagating(on) {
  $("propagate-forward").disabled = on;
  $("propagate-backward").disabled = on;
  $("cancel").disabled = !on;
  document.body.dataset.propagating = on ? "1" : "0";
}

$("propagate-forward").addEventListener("click", () => propagate("forward"));
$("propagate-backward").addEventListener("click", () => propagate("backward"));
$("cancel").addEventListener("click", async () => {
  if (state.session) await api("POST", sessionUrl("/cancel")).catch(() => {});
  if (state.propagating) state.propagating.abort();
});

// -- export -------------------------------------------------------------------------

function updateExports() {
  const ready = state.session && state.masks.size > 0;
  for (const [id, rest] of [["export-zip", "/masks.zip"], ["export-mp4", "/overlay.mp4"]]) {
    $(id).classList.toggle("disabled", !ready);
    $(id).href = ready ? withToken(sessionUrl(rest)) : "#";
  }
}

// -- start --------------------------------------------------------------------------

(async () => {
  try {
    const info = await (await api("GET", "/api/info")).json();
    $("model").textContent = `model: ${info.model}${info.backend === "onnx" ? " (ONNX)" : ""}`;
    if (info.backend !== "torch") {  // the automatic mask generator runs on the torch model only
      $("everything").disabled = true;
      $("everything").title = "needs the torch backend (this service runs exported ONNX graphs)";
    }
    $("path-open").hidden = !info.data_root;
    const path = new URLSearchParams(location.search).get("path");
    if (path && info.data_root) { $("path").value = path; }
  } catch (e) {
    setStatus(`service not reachable: ${e.message}`, true);
  }
  document.body.dataset.ready = "1";
})();
