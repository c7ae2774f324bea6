// The lightbox: one photo at a time in a modal <dialog> (Escape closes it, focus returns to
// the tile). The `preview` rendition shows at once over the ThumbHash; zoom swaps in `large`,
// or, for a photo with Deep Zoom tiles (a panorama, a large scan), opens the deep-zoom viewer
// (deepzoom.js) that pans and zooms to the photo's own pixels.
// A video plays in a <video> with native controls, its poster (the `preview` rendition) first;
// a motion photo shows its still and plays its motion on "Play motion".
// Arrow keys step through the grid's order; the side panel shows when and with what camera
// the photo was taken; download fetches the original; delete asks first.

import { api, apiJson, blobUrl, el, formatBytes, imagesPath } from "./api.js";
import { DeepZoom } from "./deepzoom.js";
import { duration } from "./grid.js";
import { askConfirm } from "./dialogs.js";
import { thumbHashToDataURL } from "./thumbhash.js";

const $ = (id) => document.getElementById(id);

// EXIF times are wall-clock times where the photo was taken: show them as written.
function takenAt(meta) {
  const stamp = meta.taken_at || meta.capture_time;
  if (!stamp || stamp.length < 16) return "";
  const date = new Date(`${stamp.slice(0, 19)}Z`);
  if (Number.isNaN(date.getTime())) return stamp;
  return new Intl.DateTimeFormat(undefined, { dateStyle: "long", timeStyle: "short", timeZone: "UTC" }).format(date);
}

function camera(meta) {
  const make = meta.camera_make || "";
  const model = meta.camera_model || "";
  return model.toLowerCase().startsWith(make.toLowerCase()) ? model : [make, model].filter(Boolean).join(" ");
}

function exposure(meta) {
  const parts = [];
  if (meta.f_number) parts.push(`ƒ/${meta.f_number}`);
  if (meta.exposure) parts.push(meta.exposure < 1 ? `1/${Math.round(1 / meta.exposure)} s` : `${meta.exposure} s`);
  if (meta.focal_length) parts.push(`${meta.focal_length} mm`);
  if (meta.iso) parts.push(`ISO ${meta.iso}`);
  return parts.join(" · ");
}

function frames(image) {
  if (image.frames <= 1) return "";
  const delays = (image.metadata || {}).animated_delays_ms || [];
  const seconds = delays.reduce((sum, ms) => sum + ms, 0) / 1000;
  if (!(image.renditions && image.renditions.animated)) return `${image.frames} (animated; shown as its first frame)`;
  return `${image.frames} (animated${seconds ? `, ${seconds.toFixed(1)} s a loop` : ""})`;
}

function motionNote(image) {
  const meta = image.metadata || {};
  if (image.motion) {
    const source = { google: "Google motion photo", samsung: "Samsung motion photo", apple: "Apple Live Photo" }[image.motion.source];
    const seconds = image.motion.duration_seconds;
    return [source || "Motion photo", seconds ? duration(seconds) : ""].filter(Boolean).join(" · ");
  }
  // The still rendered but its motion part did not: say why rather than hide it.
  return meta.motion_error ? `Not playable: ${meta.motion_error}` : "";
}

export class Lightbox {
  /** grid: the Grid (order and documents); onDeleted(id): the photo is gone; say(text). */
  constructor({ grid, onDeleted, say }) {
    Object.assign(this, { grid, onDeleted, say });
    this.dialog = $("lightbox");
    this.photo = $("lb-photo");
    this.video = $("lb-video");
    this.motionButton = $("lb-motion");
    this.motionButton.addEventListener("click", () => this.playMotion(this.motionButton.getAttribute("aria-pressed") !== "true"));
    this.video.addEventListener("ended", () => this.playMotion(false));
    this.id = null;
    this.zoomed = false;
    this.deep = new DeepZoom(this.photo.parentElement);
    $("lb-prev").addEventListener("click", () => this.step(-1));
    $("lb-next").addEventListener("click", () => this.step(1));
    $("lb-close").addEventListener("click", () => this.dialog.close());
    $("lb-zoom").addEventListener("click", () => this.zoom(!this.zoomed));
    $("lb-download").addEventListener("click", () => this.download());
    $("lb-delete").addEventListener("click", () => this.remove());
    this.photo.addEventListener("click", () => this.zoom(!this.zoomed));
    // The ThumbHash's aspect ratio is approximate: hide it once the photo itself is painted.
    this.photo.addEventListener("load", () => {
      this.dialog.classList.add("painted");
      if (this.zoomed) this.centre();
    });
    this.dialog.addEventListener("keydown", (event) => this.key(event));
    this.dialog.addEventListener("close", () => {
      this.id = null;
      this.closeDeep();
      this.photo.removeAttribute("src");
      this.stopVideo();
    });
  }

  get isOpen() {
    return this.dialog.open;
  }

  open(id) {
    if (!this.dialog.open) this.dialog.showModal();
    this.show(id);
  }

  key(event) {
    if (event.target.closest && event.target.closest("input, select, textarea")) return;
    if (this.deep.key(event)) return; // zoomed into tiles: +/- zoom, arrows pan
    const actions = { ArrowLeft: () => this.step(-1), ArrowRight: () => this.step(1), z: () => this.zoom(!this.zoomed) };
    if (actions[event.key]) {
      event.preventDefault();
      actions[event.key]();
    }
  }

  step(delta) {
    const ids = this.grid.ids();
    const next = ids[ids.indexOf(this.id) + delta];
    if (next) this.show(next);
  }

  async show(id) {
    this.id = id;
    this.zoom(false, { load: false });
    const image = this.grid.image(id) || (await apiJson(`${imagesPath()}/${id}`));
    const ids = this.grid.ids();
    $("lb-prev").disabled = ids.indexOf(id) <= 0;
    $("lb-next").disabled = ids.indexOf(id) >= ids.length - 1;
    $("lightbox-title").textContent = image.filename || "Untitled photo";
    $("lb-placeholder").src = thumbHashToDataURL(image.thumbhash) || "";
    this.photo.removeAttribute("src");
    this.dialog.classList.remove("painted");
    this.photo.alt = image.filename || "photo";
    this.dialog.dataset.status = image.status;
    this.info(image);
    this.stopVideo();
    // An animated GIF/WebP plays: its `animated` rendition (frames and delays kept).
    const renditions = image.renditions || {};
    const preview = renditions.animated || renditions.preview;
    this.dialog.classList.toggle("animated", Boolean(renditions.animated));
    this.dialog.dataset.media = image.media || "photo";
    this.motionButton.hidden = !(image.status === "ready" && image.motion);
    if (image.status === "ready" && image.media === "video" && renditions.video) {
      await this.loadVideo(id, renditions.video.url, preview && preview.url, { controls: true });
      return;
    }
    if (image.status === "ready" && preview) await this.load(id, preview.url);
  }

  // The video over the stage: `url` its MP4, `poster` shown until it plays. Renditions need
  // the Authorization header, so the MP4 comes as a blob: URL like the photos.
  async loadVideo(id, url, poster, { controls = true, autoplay = false } = {}) {
    try {
      const [src, still] = await Promise.all([blobUrl(url), poster ? blobUrl(poster) : ""]);
      if (this.id !== id) return;
      this.video.controls = controls;
      if (still) this.video.poster = still;
      this.video.src = src;
      this.video.dataset.rendition = url;
      this.video.hidden = false;
      this.dialog.classList.add("painted", "playing-video");
      if (autoplay) await this.video.play();
    } catch (error) {
      this.say(error.message);
    }
  }

  stopVideo() {
    this.video.pause();
    this.video.removeAttribute("src");
    this.video.removeAttribute("poster");
    delete this.video.dataset.rendition;
    this.video.hidden = true;
    this.video.load(); // drop the buffered media
    this.dialog.classList.remove("playing-video");
    this.motionButton.setAttribute("aria-pressed", "false");
  }

  // A motion photo: its motion plays once over the still (muted, no controls), then the still.
  async playMotion(on) {
    const image = this.id && this.grid.image(this.id);
    if (!on || !image || !image.motion) {
      if (image && image.media !== "video") this.stopVideo();
      return;
    }
    this.motionButton.setAttribute("aria-pressed", "true");
    this.video.muted = true;
    await this.loadVideo(image.id, image.motion.url, image.renditions.preview && image.renditions.preview.url, {
      controls: false,
      autoplay: true,
    });
  }

  async load(id, url) {
    try {
      const src = await blobUrl(url);
      if (this.id !== id) return; // the user stepped on meanwhile
      this.photo.src = src;
      this.photo.dataset.rendition = url;
    } catch (error) {
      this.say(error.message);
    }
  }

  // Zoomed, the stage scrolls over the photo at its full size: start from its centre, not
  // its top-left corner (a panorama or a phone showed a blank or arbitrary corner).
  centre() {
    const stage = this.photo.parentElement;
    stage.scrollTo({ left: (stage.scrollWidth - stage.clientWidth) / 2, top: (stage.scrollHeight - stage.clientHeight) / 2 });
  }

  zoom(on, { load = true } = {}) {
    const current = this.id && this.grid.image(this.id);
    if (on && current && current.media === "video") return; // the player has its own controls
    this.zoomed = on;
    this.dialog.classList.toggle("zoomed", on);
    $("lb-zoom").setAttribute("aria-pressed", String(on));
    $("lb-zoom").setAttribute("aria-label", on ? "Zoom out" : "Zoom in");
    const image = this.id && this.grid.image(this.id);
    if (!on || !image || !image.deep_zoom) this.closeDeep();
    if (!load || !image || image.status !== "ready") return;
    if (on && image.deep_zoom) {
      this.openDeep(image);
      return;
    }
    const rendition = on ? image.renditions.large : image.renditions.animated || image.renditions.preview;
    this.load(this.id, rendition ? rendition.url : image.links.original);
  }

  async openDeep(image) {
    this.dialog.classList.add("deep");
    const preview = image.renditions.preview;
    let backdrop = "";
    try {
      backdrop = preview ? await blobUrl(preview.url) : "";
    } catch {
      // The tiles still come; only the blurry underlay is missing.
    }
    if (this.id !== image.id || !this.zoomed) return;
    this.deep.open(image.deep_zoom, { backdrop, label: image.filename || "photo" });
  }

  closeDeep() {
    this.dialog.classList.remove("deep");
    if (this.deep.active) this.deep.close();
  }

  info(image) {
    const meta = image.metadata || {};
    const rows = [
      ["Taken", takenAt(meta)],
      ["Camera", camera(meta)],
      ["Lens", meta.lens],
      ["Exposure", exposure(meta)],
      ["Frames", frames(image)],
      ["Duration", meta.duration_seconds ? duration(meta.duration_seconds) : ""],
      ["Motion", motionNote(image)],
      ["Size", image.width ? `${image.width} × ${image.height} · ${formatBytes(image.bytes)}` : formatBytes(image.bytes)],
      ["Uploaded", new Date(image.created_at).toLocaleString()],
      ["Status", image.status === "failed" ? `Failed: ${image.failure || "unknown reason"}` : image.status === "ready" ? "" : image.status],
    ];
    $("lb-info").replaceChildren(
      ...rows.filter(([, value]) => value).flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value, "data-term": term.toLowerCase() })]),
    );
  }

  async download() {
    const image = this.grid.image(this.id);
    if (!image) return;
    try {
      const blob = await (await api(image.links.original)).blob();
      const url = URL.createObjectURL(blob);
      const link = el("a", { href: url, download: image.filename || `${image.id}` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (error) {
      this.say(`Download failed: ${error.message}`);
    }
  }

  async remove() {
    const id = this.id;
    const image = this.grid.image(id);
    const name = (image && image.filename) || "this photo";
    const ok = await askConfirm({ title: "Delete photo?", message: `${name} goes to the Trash, where you can restore it until it is emptied.`, action: "Delete" });
    if (!ok || this.id !== id) return;
    try {
      await api(`/v1/images/${id}`, { method: "DELETE" });
    } catch (error) {
      this.say(`Could not delete: ${error.message}`);
      return;
    }
    this.onDeleted(id); // the page calls forget(id), unless the `deleted` event came first
    this.say(`Deleted ${name}`);
  }

  // The photo `id` is gone (deleted here or elsewhere): show its neighbour, or close.
  forget(id) {
    if (!this.dialog.open || this.id !== id) return;
    const ids = this.grid.ids();
    const neighbour = ids[ids.indexOf(id) + 1] || ids[ids.indexOf(id) - 1];
    if (neighbour) this.show(neighbour);
    else this.dialog.close();
  }
}
