// The upload tray: every chosen or dropped file gets a row with a byte progress bar, then
// follows its image through processing to ready/failed (the app forwards live events).
// Small files go as one POST /v1/images (XHR, for upload progress); files of at least
// config.tusThresholdBytes go through tus when the server offers it (see tus.js).

import { apiJson, authHeaders, config, el, formatBytes } from "./api.js";
import { TusUpload, tusAvailable, xhrError } from "./tus.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const BUSY_RETRIES = 5;

export class Uploader {
  /** tray: the #uploads section; onImage(image): an image was accepted (show it at once);
   * it returns the image as the grid now knows it. */
  constructor(tray, { onImage, currentAlbum }) {
    this.tray = tray;
    this.list = tray.querySelector("ol");
    this.summary = tray.querySelector("#uploads-summary");
    this.onImage = onImage;
    this.currentAlbum = currentAlbum;
    this.queue = [];
    this.active = 0;
    this.rows = new Map(); // image id -> row, to show ready/failed as events arrive
    this.tus = null; // Promise<boolean>, asked once per sign-in
    tray.querySelector("#uploads-clear").addEventListener("click", () => this.clearFinished());
  }

  reset() {
    this.queue = [];
    this.rows.clear();
    this.list.replaceChildren();
    this.tus = null;
    this.tray.hidden = true;
  }

  add(files) {
    for (const file of files) {
      const row = this.row(file);
      this.list.append(row);
      this.queue.push({ file, row, album: this.currentAlbum() });
    }
    this.tray.hidden = this.list.children.length === 0;
    this.updateSummary();
    while (this.active < config.uploadConcurrency && this.queue.length) this.next();
  }

  row(file) {
    const progress = el("progress", { max: String(file.size || 1), value: "0", "aria-label": `${file.name} upload progress` });
    return el(
      "li",
      { class: "upload", "data-state": "waiting", "data-name": file.name },
      el("span", { class: "upload-name", text: file.name, title: file.name }),
      progress,
      el("span", { class: "upload-bytes", text: `0 of ${formatBytes(file.size)}` }),
      el("span", { class: "upload-state", text: "Waiting" }),
    );
  }

  async next() {
    const job = this.queue.shift();
    if (!job) return;
    this.active += 1;
    try {
      const image = await this.send(job);
      this.rows.set(image.id, job.row);
      const resumed = job.row.dataset.resumedAt ? ` (resumed at ${formatBytes(Number(job.row.dataset.resumedAt))})` : "";
      this.setState(job.row, image.duplicate ? "duplicate" : "processing", (image.duplicate ? "Already in your gallery" : "Processing") + resumed);
      // The ready event may have beaten this response: the grid keeps the newest state.
      this.imageChanged(this.onImage(image) || image);
    } catch (error) {
      this.setState(job.row, "rejected", error.message);
    } finally {
      this.active -= 1;
      this.updateSummary();
      this.next();
    }
  }

  async send({ file, row, album }) {
    this.setState(row, "uploading", "Uploading");
    const progress = (sent) => {
      row.querySelector("progress").value = sent;
      row.querySelector(".upload-bytes").textContent = `${formatBytes(sent)} of ${formatBytes(file.size)}`;
    };
    if (file.size >= config.tusThresholdBytes && (await this.tusOffered())) {
      row.dataset.via = "tus";
      const onResume = (offset) => {
        row.dataset.resumedAt = String(offset);
        this.setState(row, "uploading", `Resumed at ${formatBytes(offset)}`);
      };
      const upload = new TusUpload(file, { endpoint: "/v1/uploads", chunkBytes: config.tusChunkBytes, metadata: { album }, onProgress: progress, onResume });
      const { imageId, duplicate } = await upload.start();
      row.dataset.resumes = String(upload.resumes);
      return { ...(await apiJson(`/v1/images/${imageId}`)), duplicate };
    }
    row.dataset.via = "post";
    const image = await this.post(file, progress);
    if (album) await apiJson(`/v1/albums/${album}/images/${image.id}`, { method: "PUT" });
    return image;
  }

  tusOffered() {
    if (!this.tus) this.tus = tusAvailable("/v1/uploads");
    return this.tus;
  }

  // One POST with the raw bytes; a 503 (busy) or 429 (this key's share of the gateway) waits
  // for Retry-After and tries again.
  async post(file, progress) {
    for (let attempt = 0; ; attempt++) {
      const xhr = await new Promise((resolve, reject) => {
        const request = new XMLHttpRequest();
        request.open("POST", `/v1/images?filename=${encodeURIComponent(file.name)}`);
        for (const [name, value] of Object.entries(authHeaders({ "Content-Type": "application/octet-stream" }))) {
          request.setRequestHeader(name, value);
        }
        request.upload.onprogress = (event) => progress(event.loaded);
        request.onload = () => resolve(request);
        request.onerror = () => reject(new Error("Connection lost; try again"));
        request.send(file);
      });
      if ((xhr.status === 503 || xhr.status === 429) && attempt < BUSY_RETRIES) {
        await sleep(1000 * Number(xhr.getResponseHeader("Retry-After") || 1));
        continue;
      }
      if (xhr.status >= 300) throw xhrError(xhr);
      progress(file.size);
      return { ...JSON.parse(xhr.responseText), duplicate: xhr.getResponseHeader("X-Gallery-Duplicate") === "true" };
    }
  }

  // An image we uploaded changed (event or refetch): show ready/failed on its row.
  imageChanged(image) {
    const row = this.rows.get(image.id);
    if (!row || row.dataset.state === "duplicate") return;
    const resumed = row.dataset.resumedAt ? ` (resumed at ${formatBytes(Number(row.dataset.resumedAt))})` : "";
    if (image.status === "ready") this.setState(row, "ready", `Ready${resumed}`);
    else if (image.status === "failed") this.setState(row, "failed", `Failed: ${image.failure || "unknown reason"}`);
    this.updateSummary();
  }

  setState(row, state, text) {
    row.dataset.state = state;
    row.querySelector(".upload-state").textContent = text;
  }

  updateSummary() {
    const rows = [...this.list.children];
    const busy = rows.filter((r) => ["waiting", "uploading", "processing"].includes(r.dataset.state)).length;
    this.summary.textContent = busy ? `Uploading ${busy} of ${rows.length}` : `${rows.length} done`;
  }

  clearFinished() {
    for (const row of [...this.list.children]) {
      if (!["waiting", "uploading", "processing"].includes(row.dataset.state)) row.remove();
    }
    this.tray.hidden = this.list.children.length === 0;
    this.updateSummary();
  }
}
