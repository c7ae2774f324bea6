// The deep-zoom viewer: pans and zooms a large photo down to its own pixels, fetching only the
// Deep Zoom tiles that are on screen (GET {deep_zoom.url}/{level}/{col}_{row}.jpg, with the
// API key, like every rendition). The `preview` stays underneath, stretched to the photo's
// size, so nothing is ever blank while tiles arrive. Input: mouse wheel and drag, keys
// (+ / - to zoom, arrows to pan, 0 to fit), touch (one finger drags, two pinch). It starts
// with the whole photo fitted and centred.

import { blobUrl, el } from "./api.js";

const ZOOM_STEP = 1.25;
const PAN_STEP = 80; // screen pixels per arrow key press
const MAX_ZOOM = 2; // screen pixels per photo pixel: a little past full resolution
const MAX_TILES = 400; // tile elements kept; older ones (off screen) are dropped

export class DeepZoom {
  /** stage: the element the viewer fills (positioned; its size is the viewport). */
  constructor(stage) {
    this.stage = stage;
    this.root = el("div", { class: "dz", tabindex: "0", role: "img", hidden: "" });
    this.backdrop = el("img", { class: "dz-backdrop", alt: "", "aria-hidden": "true" });
    this.layer = el("div", { class: "dz-layer" });
    this.root.append(this.backdrop, this.layer);
    stage.prepend(this.root); // under the prev/next buttons
    this.tiles = new Map(); // "level/col_row" -> <img>
    this.pointers = new Map(); // pointerId -> {x, y}
    this.info = null;
    this.root.addEventListener("wheel", (event) => this.wheel(event), { passive: false });
    this.root.addEventListener("pointerdown", (event) => this.pointerDown(event));
    this.root.addEventListener("pointermove", (event) => this.pointerMove(event));
    for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
      this.root.addEventListener(type, (event) => this.pointerUp(event));
    }
    this.root.addEventListener("dblclick", (event) => this.zoomBy(ZOOM_STEP * ZOOM_STEP, this.local(event)));
    this.resizer = new ResizeObserver(() => this.info && this.draw());
    this.resizer.observe(this.root);
  }

  get active() {
    return Boolean(this.info);
  }

  /** Show `info` (an image's `deep_zoom`), over the `preview` blob URL `backdrop`. */
  open(info, { backdrop = "", label = "" } = {}) {
    this.close();
    this.info = info;
    this.root.hidden = false;
    this.root.setAttribute("aria-label", `${label} (zoom with + and -, pan with the arrow keys)`);
    this.root.dataset.maxLevel = String(info.max_level);
    if (backdrop) this.backdrop.src = backdrop;
    this.fit();
    this.root.focus({ preventScroll: true });
  }

  close() {
    this.info = null;
    this.root.hidden = true;
    this.backdrop.removeAttribute("src");
    this.layer.replaceChildren();
    this.tiles.clear();
    this.pointers.clear();
  }

  // ---- geometry: screen = offset + photo * scale --------------------------------------

  viewport() {
    return { width: this.root.clientWidth || 1, height: this.root.clientHeight || 1 };
  }

  fitScale() {
    const { width, height } = this.viewport();
    return Math.min(width / this.info.width, height / this.info.height, 1);
  }

  fit() {
    const { width, height } = this.viewport();
    this.scale = this.fitScale();
    this.x = (width - this.info.width * this.scale) / 2;
    this.y = (height - this.info.height * this.scale) / 2;
    this.draw();
  }

  local(event) {
    const box = this.root.getBoundingClientRect();
    return { x: event.clientX - box.left, y: event.clientY - box.top };
  }

  /** Zoom by `factor` keeping the photo point under `at` (screen, default: the centre) still. */
  zoomBy(factor, at) {
    const { width, height } = this.viewport();
    const point = at || { x: width / 2, y: height / 2 };
    const scale = Math.min(Math.max(this.scale * factor, this.fitScale()), MAX_ZOOM);
    this.x = point.x - ((point.x - this.x) * scale) / this.scale;
    this.y = point.y - ((point.y - this.y) * scale) / this.scale;
    this.scale = scale;
    this.draw();
  }

  panBy(dx, dy) {
    this.x += dx;
    this.y += dy;
    this.draw();
  }

  // A photo narrower than the viewport stays centred on that axis; a larger one cannot be
  // dragged past its edges (no blank half-screen on a phone).
  clamp() {
    const { width, height } = this.viewport();
    const w = this.info.width * this.scale;
    const h = this.info.height * this.scale;
    this.x = w <= width ? (width - w) / 2 : Math.min(0, Math.max(width - w, this.x));
    this.y = h <= height ? (height - h) / 2 : Math.min(0, Math.max(height - h, this.y));
  }

  // ---- drawing: the level whose pixels are closest above the screen's ------------------

  level() {
    const wanted = Math.ceil(Math.log2(Math.max(this.scale * (window.devicePixelRatio || 1), 1e-6)));
    return Math.min(this.info.max_level, Math.max(0, this.info.max_level + wanted));
  }

  draw() {
    this.clamp();
    const { width, height } = this.viewport();
    const { info } = this;
    const w = info.width * this.scale;
    const h = info.height * this.scale;
    this.backdrop.style.transform = `translate(${this.x}px, ${this.y}px)`;
    this.backdrop.style.width = `${w}px`;
    this.backdrop.style.height = `${h}px`;
    this.root.dataset.scale = this.scale.toFixed(4);
    this.root.dataset.fitted = String(this.scale <= this.fitScale() + 1e-9);
    const level = this.level();
    this.root.dataset.level = String(level);
    const shrink = 2 ** (info.max_level - level);
    const size = info.tile_size;
    const levelWidth = Math.ceil(info.width / shrink);
    const levelHeight = Math.ceil(info.height / shrink);
    // The visible part of the photo, in level pixels.
    const left = Math.max(0, (-this.x / this.scale) / shrink);
    const top = Math.max(0, (-this.y / this.scale) / shrink);
    const right = Math.min(levelWidth, ((width - this.x) / this.scale) / shrink);
    const bottom = Math.min(levelHeight, ((height - this.y) / this.scale) / shrink);
    const wanted = new Set();
    for (let row = Math.floor(top / size); row * size < bottom; row += 1) {
      for (let col = Math.floor(left / size); col * size < right; col += 1) {
        wanted.add(`${level}/${col}_${row}`);
        this.place(level, col, row, 1);
      }
    }
    // Tiles of other levels (or off screen) stay underneath, moved along, until the wanted
    // ones have painted over them: zooming never flashes back to the blurry preview.
    for (const key of this.tiles.keys()) {
      if (wanted.has(key)) continue;
      const [other, cell] = key.split("/");
      const [col, row] = cell.split("_");
      this.place(Number(other), Number(col), Number(row), 0);
    }
    this.prune(wanted);
    this.root.dataset.tiles = String(wanted.size);
  }

  place(level, col, row, layer) {
    const key = `${level}/${col}_${row}`;
    const shrink = 2 ** (this.info.max_level - level); // photo pixels per level pixel
    let tile = this.tiles.get(key);
    if (!tile) {
      tile = el("img", { class: "dz-tile", alt: "", "data-key": key });
      tile.addEventListener("load", () => tile.classList.add("dz-loaded"));
      this.tiles.set(key, tile);
      this.layer.append(tile);
      blobUrl(`${this.info.url}/${key}.${this.info.format}`)
        .then((src) => {
          if (this.tiles.get(key) === tile) tile.src = src;
        })
        .catch(() => this.tiles.delete(key));
    }
    // A tile starts `overlap` pixels before its grid cell (except on the first row/column).
    const { tile_size: size, overlap } = this.info;
    const x = (col * size - (col ? overlap : 0)) * shrink;
    const y = (row * size - (row ? overlap : 0)) * shrink;
    const scale = shrink * this.scale;
    tile.style.transform = `translate(${this.x + x * this.scale}px, ${this.y + y * this.scale}px) scale(${scale})`;
    tile.style.zIndex = String(layer);
  }

  prune(wanted) {
    if (this.tiles.size <= MAX_TILES) return;
    for (const [key, tile] of this.tiles) {
      if (this.tiles.size <= MAX_TILES) break;
      if (wanted.has(key)) continue;
      tile.remove();
      this.tiles.delete(key);
    }
  }

  // ---- input -----------------------------------------------------------------------------

  /** Keys for the viewer; returns true when it used the key (the lightbox leaves it be). */
  key(event) {
    if (!this.info) return false;
    const actions = {
      "+": () => this.zoomBy(ZOOM_STEP),
      "=": () => this.zoomBy(ZOOM_STEP),
      "-": () => this.zoomBy(1 / ZOOM_STEP),
      _: () => this.zoomBy(1 / ZOOM_STEP),
      0: () => this.fit(),
      ArrowLeft: () => this.panBy(PAN_STEP, 0),
      ArrowRight: () => this.panBy(-PAN_STEP, 0),
      ArrowUp: () => this.panBy(0, PAN_STEP),
      ArrowDown: () => this.panBy(0, -PAN_STEP),
    };
    const action = actions[event.key];
    if (!action) return false;
    event.preventDefault();
    action();
    return true;
  }

  wheel(event) {
    event.preventDefault();
    // Lines or pages (Firefox) count as ~40 pixels; a trackpad's pinch arrives as ctrl+wheel.
    const pixels = event.deltaY * (event.deltaMode ? 40 : 1);
    this.zoomBy(Math.exp(-pixels / (event.ctrlKey ? 100 : 300)), this.local(event));
  }

  pointerDown(event) {
    this.root.setPointerCapture?.(event.pointerId);
    this.pointers.set(event.pointerId, this.local(event));
    this.root.classList.add("dz-dragging");
  }

  pointerMove(event) {
    const last = this.pointers.get(event.pointerId);
    if (!last) return;
    const now = this.local(event);
    if (this.pointers.size === 1) {
      this.pointers.set(event.pointerId, now);
      this.panBy(now.x - last.x, now.y - last.y);
      return;
    }
    // Two fingers: zoom by the change of their distance, around their midpoint, and pan
    // by the midpoint's move.
    const other = [...this.pointers].find(([id]) => id !== event.pointerId)[1];
    const before = Math.hypot(last.x - other.x, last.y - other.y) || 1;
    const after = Math.hypot(now.x - other.x, now.y - other.y) || 1;
    this.pointers.set(event.pointerId, now);
    const mid = { x: (now.x + other.x) / 2, y: (now.y + other.y) / 2 };
    this.x += (now.x - last.x) / 2;
    this.y += (now.y - last.y) / 2;
    this.zoomBy(after / before, mid);
  }

  pointerUp(event) {
    this.pointers.delete(event.pointerId);
    if (!this.pointers.size) this.root.classList.remove("dz-dragging");
  }
}
