// The browser gallery: lists the tenant's photos, uploads with progress, updates live from
// the gateway's event stream. Images need the API key, so they are fetched as blobs.
const $ = (id) => document.getElementById(id);
const state = { key: localStorage.getItem("gallery.key") || "", cursor: null, tiles: new Map(), stream: null };

function headers() { return { Authorization: `Bearer ${state.key}` }; }

function say(text) { $("message").textContent = text || ""; }

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
  }
  return response;
}

async function blobUrl(path) {
  const response = await api(path);
  return URL.createObjectURL(await response.blob());
}

function tileFor(image) {
  let tile = state.tiles.get(image.id);
  if (!tile) {
    tile = document.createElement("button");
    tile.className = "tile";
    tile.dataset.id = image.id;
    tile.innerHTML = '<img alt=""><span class="status"></span>';
    tile.addEventListener("click", () => view(tile.dataset.id));
    state.tiles.set(image.id, tile);
  }
  return tile;
}

async function render(image, { prepend = false } = {}) {
  const tile = tileFor(image);
  if (!tile.isConnected) {
    if (prepend) $("grid").prepend(tile); else $("grid").append(tile);
  }
  tile.dataset.status = image.status;
  tile.title = image.filename || image.id;
  tile.querySelector(".status").textContent = image.status === "ready" ? "" : image.status;
  tile.querySelector(".status").hidden = image.status === "ready";
  if (image.status === "failed") tile.querySelector(".status").textContent = `failed: ${image.failure || ""}`;
  const img = tile.querySelector("img");
  if (image.status === "ready" && !img.src) {
    img.alt = image.filename || image.id;
    img.src = await blobUrl(image.renditions.thumb.url);
  }
}

async function loadPage() {
  const query = state.cursor ? `?cursor=${encodeURIComponent(state.cursor)}` : "";
  const page = await (await api(`/v1/images${query}`)).json();
  for (const image of page.items) await render(image);
  state.cursor = page.next_cursor;
  $("more").hidden = !state.cursor;
}

async function refresh(id, prepend) {
  const image = await (await api(`/v1/images/${id}`)).json();
  await render(image, { prepend });
}

async function view(id) {
  const image = await (await api(`/v1/images/${id}`)).json();
  if (image.status !== "ready") return;
  $("viewer-img").src = await blobUrl(image.renditions.preview.url);
  const meta = image.metadata || {};
  $("viewer-meta").textContent = [image.filename, `${image.width} x ${image.height}`, meta.camera_model, meta.capture_time]
    .filter(Boolean).join(" · ");
  $("viewer").showModal();
}

// Server-Sent Events read through fetch, because EventSource cannot send the API key.
async function listen() {
  if (state.stream) state.stream.abort();
  state.stream = new AbortController();
  try {
    const response = await api("/v1/events", { signal: state.stream.signal });
    $("live").hidden = false;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame.split("\n").find((line) => line.startsWith("data: "));
        if (!data) continue;
        const event = JSON.parse(data.slice(6));
        if (event.type === "deleted") { state.tiles.get(event.image_id)?.remove(); continue; }
        await refresh(event.image_id, !state.tiles.has(event.image_id));
      }
    }
  } catch (error) {
    if (error.name === "AbortError") return;
  }
  $("live").hidden = true;
  setTimeout(listen, 2000); // the gateway restarted or the network blinked: reconnect
}

function upload(file) {
  const row = document.createElement("li");
  row.innerHTML = `<span></span><progress max="1" value="0"></progress><span class="result"></span>`;
  row.firstChild.textContent = file.name;
  $("uploads").append(row);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1/images?filename=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("Authorization", `Bearer ${state.key}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) row.querySelector("progress").value = e.loaded / e.total; };
    xhr.onload = async () => {
      const body = JSON.parse(xhr.responseText || "{}");
      row.querySelector(".result").textContent = xhr.status < 300 ? body.status : body.error?.message || xhr.status;
      if (xhr.status < 300) await refresh(body.id, true);
      resolve();
    };
    xhr.onerror = () => { row.querySelector(".result").textContent = "network error"; resolve(); };
    xhr.send(file);
  });
}

async function uploadAll(files) {
  const queue = [...files];
  const worker = async () => { while (queue.length) await upload(queue.shift()); };
  await Promise.all([worker(), worker()]);
}

async function openGallery() {
  say("");
  $("grid").replaceChildren();
  state.tiles.clear();
  state.cursor = null;
  try {
    await loadPage();
  } catch (error) {
    say(error.message);
    return;
  }
  localStorage.setItem("gallery.key", state.key);
  $("drop").hidden = false;
  listen();
}

$("key-form").addEventListener("submit", (e) => { e.preventDefault(); state.key = $("api-key").value.trim(); openGallery(); });
$("more").addEventListener("click", () => loadPage().catch((e) => say(e.message)));
$("files").addEventListener("change", (e) => uploadAll(e.target.files));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); uploadAll(e.dataTransfer.files); });
if (state.key) { $("api-key").value = state.key; openGallery(); }
