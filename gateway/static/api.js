// The one way the page talks to the gateway: every request carries the API key from
// sessionStorage (gone when the tab closes) or, when the user ticked "remember on this
// device", from localStorage (until Sign out), and every error becomes an ApiError holding the
// server's JSON error code and message (docs/api.md: {"error": {"code", "message"}}).

const KEY_ITEM = "gallery.apiKey";
const REMEMBERED_ITEM = "gallery.rememberedKey";

export const config = {
  pageSize: 60, // images per GET /v1/images page (infinite scroll asks for the next one)
  scrollMarginPx: 800, // ask for the next page this far before the end of the grid shows
  tusThresholdBytes: 8 * 1024 * 1024, // files this large go through tus (resumable)
  tusChunkBytes: 4 * 1024 * 1024, // bytes per PATCH: a dropped connection loses at most one
  uploadConcurrency: 3,
  // Tests and embedders may override any of the above before the page loads.
  ...(globalThis.GALLERY_CONFIG || {}),
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  get key() {
    return sessionStorage.getItem(KEY_ITEM) || localStorage.getItem(REMEMBERED_ITEM) || "";
  },
  // Setting "" signs out: the remembered key goes too.
  set key(value) {
    if (value) sessionStorage.setItem(KEY_ITEM, value);
    else {
      sessionStorage.removeItem(KEY_ITEM);
      localStorage.removeItem(REMEMBERED_ITEM);
    }
  },
  remember() {
    if (this.key) localStorage.setItem(REMEMBERED_ITEM, this.key);
  },
  get remembered() {
    return Boolean(localStorage.getItem(REMEMBERED_ITEM));
  },
};

// The page before this one kept the key in localStorage, where it outlived the tab.
localStorage.removeItem("gallery.key");

// Share mode: the page at /shared/{token} shows what a share link opens, with no API key;
// the token in the path is the capability, and every request goes under its own prefix.
const SHARED_PATH = location.pathname.match(/^\/shared\/([A-Za-z0-9_-]+)$/);
export const share = {
  token: SHARED_PATH ? SHARED_PATH[1] : "",
  get active() {
    return Boolean(this.token);
  },
  get base() {
    return `/v1/shared/${this.token}`;
  },
};

/** Where images are listed and read: the tenant's, or the share link's. */
export function imagesPath() {
  return share.active ? `${share.base}/images` : "/v1/images";
}

export function authHeaders(extra = {}) {
  if (share.active) return { ...extra }; // a link needs no key, and must never send one
  return { Authorization: `Bearer ${session.key}`, ...extra };
}

export async function errorFrom(response) {
  const body = await response.json().catch(() => ({}));
  const error = body && body.error ? body.error : {};
  return new ApiError(response.status, error.code || "http", error.message || `HTTP ${response.status}`);
}

export async function api(path, { method = "GET", json, body, headers = {}, signal } = {}) {
  const init = { method, headers: authHeaders(headers), signal };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await errorFrom(response);
  return response;
}

export async function apiJson(path, options) {
  const response = await api(path, options);
  return response.status === 204 ? null : response.json();
}

// Renditions need the Authorization header, so <img src> cannot load them directly: fetch
// once, keep an object URL per path (rendition URLs never change their bytes).
const blobUrls = new Map();

export async function blobUrl(path) {
  if (!blobUrls.has(path)) {
    const pending = api(path)
      .then((response) => response.blob())
      .then((blob) => URL.createObjectURL(blob));
    blobUrls.set(path, pending);
    pending.catch(() => blobUrls.delete(path));
  }
  return blobUrls.get(path);
}

export function forgetBlobs() {
  for (const pending of blobUrls.values()) pending.then(URL.revokeObjectURL, () => {});
  blobUrls.clear();
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "";
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value < 10 && unit ? 1 : 0)} ${units[unit]}`;
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}
