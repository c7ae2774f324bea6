// The browser gallery's entry point: sign-in, the grid with infinite scroll, uploads, the
// lightbox, albums and the live event stream, wired together. Every module talks to the
// same HTTP API as the command line (docs/api.md); nothing here is fetched from elsewhere.

import { Albums } from "./albums.js";
import { ApiError, apiJson, config, forgetBlobs, formatBytes, imagesPath, session, share } from "./api.js";
import { askConfirm, askText, wireDialogs } from "./dialogs.js";
import { EventStream } from "./events.js";
import { Grid } from "./grid.js";
import { Lightbox } from "./lightbox.js";
import { Uploader } from "./uploads.js";

const $ = (id) => document.getElementById(id);
const CATCH_UP_PAGES = 5;
const state = { cursor: null, loading: false, generation: 0, trash: false };

let toastTimer;
function say(text) {
  const toast = $("toast");
  toast.textContent = text;
  toast.classList.toggle("show", Boolean(text));
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toast.classList.remove("show"), 5000);
}

const grid = new Grid($("grid"), { onOpen: (id) => lightbox.open(id), onSelect: selectionChanged });
const lightbox = new Lightbox({ grid, onDeleted: (id) => removed(id), say });
const albums = new Albums({ onBrowse: () => showTrash(false).catch(showError), say });
const uploader = new Uploader($("uploads"), { onImage: showImage, currentAlbum: () => albums.current });
const stream = new EventStream({
  onEvent: (event) => handleEvent(event).catch(() => {}),
  onState: (connection) => {
    $("live").dataset.state = connection;
    $("live-text").textContent = { live: "Live", connecting: "Connecting…", offline: "Reconnecting…" }[connection];
  },
  // Also on the first connection: events between the first listing and now were not heard.
  onConnected: () => catchUp().catch(() => {}),
  onUnauthorized: () => signOut("Your API key is no longer accepted. Sign in again."),
});

// ---- sign in / out -------------------------------------------------------------------

async function signIn(key, remember = false) {
  session.key = key;
  $("signin-error").textContent = "";
  $("signin-submit").disabled = true;
  try {
    await reload();
  } catch (error) {
    session.key = "";
    $("signin-error").textContent =
      error instanceof ApiError && error.status === 401
        ? "That API key was not accepted. Check it and try again."
        : `Could not open the gallery: ${error.message}`;
    $("api-key").focus();
    return;
  } finally {
    $("signin-submit").disabled = false;
  }
  $("api-key").value = "";
  if (remember) session.remember();
  document.body.dataset.view = "gallery";
  $("signin").hidden = true;
  $("app").hidden = false;
  $("upload-button").focus();
  stream.start();
  albums.load().catch(showError);
  refreshUsage();
}

function signOut(message = "") {
  stream.stop();
  state.generation += 1;
  state.trash = false;
  document.body.classList.remove("in-trash");
  session.key = "";
  grid.clear();
  uploader.reset();
  albums.reset();
  forgetBlobs();
  if (lightbox.isOpen) $("lightbox").close();
  document.body.dataset.view = "signin";
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
  $("api-key").focus();
}

// ---- listing, infinite scroll, catching up ----------------------------------------------

function listPath(cursor, limit = config.pageSize) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (cursor) query.set("cursor", cursor);
  if (state.trash) return `/v1/trash?${query}`;
  if (albums.current) query.set("album", albums.current);
  return `${imagesPath()}?${query}`;
}

async function reload() {
  state.generation += 1;
  state.cursor = null;
  state.loading = false;
  grid.clear();
  await loadPage();
}

async function loadPage() {
  if (state.loading) return;
  state.loading = true;
  const generation = state.generation;
  $("sentinel").dataset.loading = "true";
  try {
    const page = await apiJson(listPath(state.cursor));
    if (generation !== state.generation) return;
    page.items.forEach(showImage);
    state.cursor = page.next_cursor;
  } finally {
    if (generation === state.generation) state.loading = false;
    $("sentinel").dataset.loading = "false";
    updateEmpty();
  }
  // A tall screen may still show the end of the grid after this page: keep filling it.
  if (state.cursor && nearTheEnd()) loadPage().catch(showError);
}

function nearTheEnd() {
  if ($("app").hidden) return false; // signing in: the observer fires once the grid shows
  const top = $("sentinel").getBoundingClientRect().top;
  return top < window.innerHeight + config.scrollMarginPx;
}

new IntersectionObserver(
  ([entry]) => {
    if (entry.isIntersecting && state.cursor && (session.key || share.active)) loadPage().catch(showError);
  },
  { rootMargin: `${config.scrollMarginPx}px` },
).observe($("sentinel"));

// Once the stream is (re)connected: re-read the newest pages so photos uploaded, finished or
// deleted while nobody listened show up (a server replay may have covered them; this makes
// sure).
async function catchUp() {
  const generation = state.generation;
  const seen = new Set();
  let cursor = null;
  for (let pages = 0; pages < CATCH_UP_PAGES; pages++) {
    const page = await apiJson(listPath(cursor));
    if (generation !== state.generation) return;
    const fresh = page.items.filter((image) => !grid.image(image.id) || grid.image(image.id).status !== image.status);
    for (const image of page.items) {
      seen.add(image.id);
      showImage(image);
    }
    cursor = page.next_cursor;
    if (!cursor || !fresh.length) break;
  }
  const oldest = [...seen].sort()[0] || "";
  for (const id of grid.ids()) if (!seen.has(id) && (!cursor || id >= oldest)) grid.remove(id);
  updateEmpty();
}

function showImage(image) {
  const shown = grid.upsert(image);
  uploader.imageChanged(shown);
  updateEmpty();
  return shown;
}

function updateEmpty() {
  $("empty").hidden = grid.size > 0 || state.loading || Boolean(state.cursor);
  $("photo-count").textContent = grid.size ? `${grid.size}${state.cursor ? "+" : ""} photos` : "";
}

// ---- live events -------------------------------------------------------------------

async function handleEvent({ type, data }) {
  // The stream was recreated since the id we resumed from: what we show may be stale.
  if (type === "reset") return reload();
  if (["ready", "trashed", "restored", "deleted"].includes(type)) refreshUsage();
  if (type === "deleted") return removed(data.image_id);
  // Into the trash or out of it: the photo leaves the view it was in and joins the other.
  if (type === "trashed" || type === "restored") {
    if ((type === "trashed") !== state.trash) return removed(data.image_id);
    return showImage(await apiJson(`${state.trash ? "/v1/trash" : imagesPath()}/${data.image_id}`));
  }
  if (type === "album") return albumEvent(data);
  if (!["uploaded", "ready", "failed"].includes(type) || !data.image_id) return;
  let image;
  try {
    image = await apiJson(`/v1/images/${data.image_id}`);
  } catch (error) {
    if (error.status === 404) removed(data.image_id);
    return;
  }
  const inView = !albums.current || (image.albums || []).includes(albums.current);
  if (!inView && !grid.image(image.id)) return;
  const before = grid.image(image.id);
  showImage(image);
  if (lightbox.id === image.id && before && before.status !== image.status) lightbox.show(image.id);
}

function removed(id) {
  lightbox.forget(id); // before the tile goes: its neighbours are found through the grid
  grid.remove(id);
  updateEmpty();
}

async function albumEvent(data) {
  if (data.album_id) await albums.refresh(data.album_id);
  if (data.album_id !== albums.current || !data.image_id) return;
  if (String(data.action || "").includes("remove")) removed(data.image_id);
  else showImage(await apiJson(`/v1/images/${data.image_id}`));
}

// ---- selection -----------------------------------------------------------------------

function selectionChanged(ids) {
  $("selection").hidden = ids.length === 0;
  $("selection-count").textContent = `${ids.length} selected`;
}

async function deleteSelected() {
  const ids = [...grid.selected];
  const noun = ids.length === 1 ? "photo" : "photos";
  const ok = await askConfirm({ title: `Delete ${ids.length} ${noun}?`, message: "They go to the Trash, where you can restore them until it is emptied.", action: "Delete" });
  if (!ok) return;
  for (const id of ids) {
    try {
      await apiJson(`/v1/images/${id}`, { method: "DELETE" });
      removed(id);
    } catch (error) {
      say(`Could not delete: ${error.message}`);
      return;
    }
  }
  grid.setSelection([]);
  say(`Deleted ${ids.length} ${noun}`);
}

// ---- usage: one line in the header, refreshed after changes -------------------------------

let usageTimer;
function refreshUsage() {
  clearTimeout(usageTimer);
  usageTimer = setTimeout(async () => {
    if (!session.key || share.active) return;
    try {
      const usage = await apiJson("/v1/usage");
      const quota = usage.quota.max_bytes ? ` of ${formatBytes(usage.quota.max_bytes)}` : "";
      const trash = usage.trash.photos ? ` · ${usage.trash.photos} in trash` : "";
      $("usage").textContent = `${usage.photos} photos · ${formatBytes(usage.bytes.total + usage.trash.bytes.total)}${quota}${trash}`;
    } catch {
      $("usage").textContent = "";
    }
  }, 300); // one request for a burst of events
}

// ---- the trash: restore, empty ---------------------------------------------------------

async function showTrash(on) {
  state.trash = on;
  document.body.classList.toggle("in-trash", on);
  $("trash-button").setAttribute("aria-pressed", String(on));
  if (on) $("view-title").textContent = "Trash";
  else albums.render();
  await reload();
}

async function restoreSelected() {
  const ids = [...grid.selected];
  for (const id of ids) {
    try {
      await apiJson(`/v1/trash/${id}/restore`, { method: "POST" });
      removed(id);
    } catch (error) {
      say(`Could not restore: ${error.message}`);
      return;
    }
  }
  grid.setSelection([]);
  say(`Restored ${ids.length} ${ids.length === 1 ? "photo" : "photos"}`);
}

async function emptyTrash() {
  const ok = await askConfirm({ title: "Empty the trash?", message: "Every photo in the Trash is deleted for good, with all its sizes. This cannot be undone.", action: "Empty trash" });
  if (!ok) return;
  try {
    const { deleted } = await apiJson("/v1/trash", { method: "DELETE" });
    grid.clear();
    updateEmpty();
    say(`Deleted ${deleted} ${deleted === 1 ? "photo" : "photos"} for good`);
  } catch (error) {
    say(`Could not empty the trash: ${error.message}`);
  }
}

// ---- uploads: picker and drag-and-drop --------------------------------------------------

function wireUploads() {
  $("upload-button").addEventListener("click", () => $("files").click());
  $("empty-upload").addEventListener("click", () => $("files").click());
  $("files").addEventListener("change", (event) => {
    uploader.add([...event.target.files]);
    event.target.value = "";
  });
  let depth = 0; // dragenter/dragleave fire for every child element crossed
  const hasFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  const overlay = (on) => ($("dropzone").hidden = !on);
  document.addEventListener("dragenter", (e) => hasFiles(e) && session.key && (depth++, overlay(true)));
  document.addEventListener("dragleave", (e) => hasFiles(e) && --depth <= 0 && ((depth = 0), overlay(false)));
  document.addEventListener("dragover", (e) => hasFiles(e) && e.preventDefault());
  document.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    overlay(false);
    if (session.key) uploader.add([...e.dataTransfer.files]);
  });
}

// ---- share mode: what a link opens, read-only, without a key ------------------------------

async function openShared() {
  document.body.dataset.view = "shared";
  $("signin").hidden = true;
  $("app").hidden = false;
  try {
    const link = await apiJson(share.base);
    $("view-title").textContent = link.album ? link.album.name : "Shared photo";
    document.title = `${$("view-title").textContent} · Gallery`;
    document.body.classList.toggle("can-download", Boolean(link.allow_download));
    await reload();
  } catch (error) {
    $("view-title").textContent = error.status === 404 ? "This link does not exist, has expired or was revoked" : "Could not open this link";
    say(error.message);
  }
}

async function shareAlbum() {
  if (!albums.current) return;
  try {
    const made = await apiJson("/v1/shares", { method: "POST", json: { album_id: albums.current } });
    await navigator.clipboard?.writeText(made.url).catch(() => {});
    await askText({ title: "Share link", label: "Anyone with this link can see the album", value: made.url, action: "Done" });
  } catch (error) {
    say(`Could not share: ${error.message}`);
  }
}

function showError(error) {
  if (error instanceof ApiError && error.status === 401) signOut("Your API key is no longer accepted. Sign in again.");
  else say(error.message);
}

// ---- start -----------------------------------------------------------------------------

wireDialogs();
wireUploads();
$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (key) signIn(key, $("remember").checked);
  else $("signin-error").textContent = "Enter your API key.";
});
$("signin-submit").disabled = false; // index.html ships it disabled until this handler exists
$("signout").addEventListener("click", () => signOut());
$("selection-add").addEventListener("click", async () => (await albums.addSelected([...grid.selected])) && grid.setSelection([]));
$("selection-delete").addEventListener("click", () => deleteSelected());
$("selection-clear").addEventListener("click", () => grid.setSelection([]));
$("album-share").addEventListener("click", () => shareAlbum());
$("trash-button").addEventListener("click", () => showTrash(!state.trash).catch(showError));
$("selection-restore").addEventListener("click", () => restoreSelected());
$("trash-empty").addEventListener("click", () => emptyTrash());
if (share.active) openShared();
else if (session.key) signIn(session.key);
else $("api-key").focus();
