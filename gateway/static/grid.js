// The photo grid: one tile per image, newest first (ids are ULIDs, so id order is upload
// order). A tile paints the ThumbHash placeholder at once and fades the thumb rendition in
// when the image is ready and the tile is near the viewport; failed images show why.

import { blobUrl, el } from "./api.js";
import { thumbHashToDataURL } from "./thumbhash.js";

// Status only moves forward; a late response must not paint "queued" over "ready".
const RANK = { queued: 0, processing: 1, ready: 2, failed: 2 };
const LABEL = { queued: "Queued", processing: "Processing" };

const EXTREME_RATIO = 4; // width:height (or height:width) past which a square crop misleads

// The corner mark of a tile and its tooltip: a video's duration, a motion photo's badge, an
// animation's frame count.
function mark(image, moving) {
  if (image.media === "video") {
    const seconds = (image.metadata || {}).duration_seconds;
    return [seconds ? duration(seconds) : "Video", "Video: opens in the player"];
  }
  if (image.media === "motion") return ["Motion", "Motion photo: plays on hover or press"];
  if (image.frames > 1) {
    return [`${image.frames} frames`, moving ? "Animated: plays on hover" : "Animated: shown as its first frame"];
  }
  return ["", ""];
}

/** "0:07", "12:34", "1:02:03" for a duration in seconds. */
export function duration(seconds) {
  const whole = Math.round(seconds);
  const [h, m, s] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

export class Grid {
  /** onOpen(id): a tile was activated; onSelect(ids): the selection changed. */
  constructor(container, { onOpen, onSelect }) {
    this.container = container;
    this.onOpen = onOpen;
    this.onSelect = onSelect;
    this.tiles = new Map(); // id -> {node, image}
    this.selected = new Set();
    this.visible = new IntersectionObserver((entries) => this.reveal(entries), { rootMargin: "600px" });
  }

  get size() {
    return this.tiles.size;
  }

  image(id) {
    return this.tiles.get(id)?.image;
  }

  ids() {
    return [...this.container.children].map((node) => node.dataset.id);
  }

  clear() {
    this.visible.disconnect();
    this.tiles.clear();
    this.container.replaceChildren();
    this.setSelection([]);
  }

  // Show or update `image`; returns the image as the grid now holds it.
  upsert(image) {
    // A live photo's video plays inside its photo: it is not an item of its own.
    if (image.motion_of) {
      this.remove(image.id);
      return image;
    }
    const known = this.tiles.get(image.id);
    if (known && RANK[image.status] < RANK[known.image.status]) return known.image;
    if (known) {
      known.image = image;
      this.paint(known.node, image);
      return image;
    }
    const node = this.tile(image);
    this.tiles.set(image.id, { node, image });
    const after = [...this.container.children].find((other) => other.dataset.id < image.id);
    this.container.insertBefore(node, after || null);
    this.paint(node, image);
    this.visible.observe(node);
    return image;
  }

  remove(id) {
    const known = this.tiles.get(id);
    if (!known) return;
    this.visible.unobserve(known.node);
    known.node.remove();
    this.tiles.delete(id);
    if (this.selected.delete(id)) this.onSelect([...this.selected]);
  }

  tile(image) {
    const name = image.filename || "Untitled photo";
    const open = el(
      "button",
      { class: "tile-open", type: "button", "aria-label": `Open ${name}`, onclick: () => this.onOpen(image.id) },
      el("img", { class: "placeholder", alt: "", "aria-hidden": "true" }),
      el("img", { class: "thumb", alt: name, decoding: "async" }),
    );
    // An animated GIF/WebP (its `animated` rendition) and a motion photo (its `motion`
    // video) play while pointed at, focused or pressed (a touch screen has no hover).
    const events = [["pointerenter", true], ["pointerleave", false], ["focus", true], ["blur", false]];
    for (const [type, on] of [...events, ["pointerdown", true], ["pointerup", false], ["pointercancel", false]]) {
      open.addEventListener(type, () => this.play(image.id, on));
    }
    const check = el("input", { type: "checkbox", class: "tile-select", "aria-label": `Select ${name}` });
    check.addEventListener("change", () => this.toggle(image.id, check.checked));
    return el(
      "li",
      { class: "tile", "data-id": image.id },
      open,
      check,
      el("span", { class: "badge", "aria-hidden": "true" }),
      el("span", { class: "frames" }),
      el("p", { class: "failure" }),
    );
  }

  paint(node, image) {
    node.dataset.status = image.status;
    node.title = image.filename || image.id;
    const placeholder = node.querySelector(".placeholder");
    if (!placeholder.src && image.thumbhash) placeholder.src = thumbHashToDataURL(image.thumbhash);
    node.querySelector(".badge").textContent = LABEL[image.status] || "";
    // An animated GIF/WebP/APNG has an `animated` rendition that plays on hover; one over the
    // size limit (or a GIF whose first frame leaves gaps) shows its first frame only: the
    // badge says which (mark, above).
    const moving = Boolean(image.renditions && image.renditions.animated);
    node.dataset.animated = String(moving);
    node.dataset.media = image.media || "photo";
    const [frames, title] = mark(image, moving);
    node.querySelector(".frames").textContent = frames;
    node.querySelector(".frames").title = title;
    node.querySelector(".failure").textContent =
      image.status === "failed" ? `Failed: ${image.failure || "unknown reason"}` : "";
    const state = image.status === "ready" ? "" : `, ${image.status}`;
    node.querySelector(".tile-open").setAttribute("aria-label", `Open ${image.filename || "photo"}${state}`);
    if (node.dataset.near === "true") this.loadThumb(node, image);
  }

  reveal(entries) {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      entry.target.dataset.near = "true";
      this.visible.unobserve(entry.target);
      const known = this.tiles.get(entry.target.dataset.id);
      if (known) this.loadThumb(known.node, known.image);
    }
  }

  async loadThumb(node, image) {
    // A strip (a 20000 x 3 scan, an extreme panorama) gets a square `thumb` that is a sliver
    // of it: such a tile shows the whole picture instead, the `preview` fitted in the tile.
    const ratio = image.width && image.height ? image.width / image.height : 1;
    const strip = ratio >= EXTREME_RATIO || ratio <= 1 / EXTREME_RATIO;
    node.classList.toggle("strip", strip);
    const renditions = image.renditions || {};
    const thumb = (strip && renditions.preview) || renditions.thumb;
    const img = node.querySelector(".thumb");
    if (image.status !== "ready" || !thumb || img.dataset.src === thumb.url) return;
    img.dataset.src = thumb.url;
    img.onload = () => node.classList.add("loaded");
    try {
      img.src = await blobUrl(thumb.url);
    } catch {
      delete img.dataset.src; // try again on the next update
    }
  }

  async play(id, on) {
    const known = this.tiles.get(id);
    if (!known || known.image.status !== "ready") return;
    const renditions = known.image.renditions || {};
    // An animation is an image; a motion photo's motion is a silent, looping video.
    const motion = known.image.motion;
    const source = renditions.animated || motion;
    if (!source) return;
    const { node } = known;
    if (node.classList.contains("playing") === on) return; // pointerenter then pointerdown
    node.classList.toggle("playing", on);
    const thumb = node.querySelector(".thumb");
    let moving = node.querySelector(".moving");
    if (!on) {
      if (moving) moving.remove();
      return;
    }
    if (!moving) {
      moving = renditions.animated
        ? el("img", { class: "moving", alt: "", "aria-hidden": "true" })
        : el("video", { class: "moving", muted: true, loop: true, playsinline: true, "aria-hidden": "true" });
      moving.muted = true; // the attribute alone does not mute a video made by script
      thumb.after(moving);
    }
    try {
      const src = await blobUrl(source.url);
      if (!node.classList.contains("playing")) return;
      moving.src = src;
      if (moving.play) await moving.play();
    } catch {
      moving.remove(); // the still stays
    }
  }

  toggle(id, on) {
    if (on) this.selected.add(id);
    else this.selected.delete(id);
    this.container.classList.toggle("selecting", this.selected.size > 0);
    this.onSelect([...this.selected]);
  }

  setSelection(ids) {
    this.selected = new Set(ids);
    for (const { node } of this.tiles.values()) {
      node.querySelector(".tile-select").checked = this.selected.has(node.dataset.id);
    }
    this.container.classList.toggle("selecting", this.selected.size > 0);
    this.onSelect([...this.selected]);
  }
}
