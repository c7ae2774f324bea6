/**
 * A small tus 1.0 client (https://tus.io/protocols/resumable-upload): core protocol plus the
 * creation and termination extensions, against the gateway's /v1/uploads.
 *
 * Why hand-written: a large photo over a phone connection should survive the connection
 * dropping, by asking the server how much it already has (HEAD -> Upload-Offset) and sending
 * only the rest (PATCH). tus-js-client does this too, but the page has no build step and loads
 * nothing from a CDN, and the subset needed here fits in one readable module. PATCH goes
 * through XMLHttpRequest because fetch reports no upload progress; the rest uses fetch.
 *
 * Resuming also survives a reload: the upload URL is remembered in localStorage under the
 * file's name, size and modification time (never the key), and forgotten once complete.
 */

import { ApiError, authHeaders, errorFrom } from "./api.js";

const TUS_VERSION = "1.0.0";
const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 8000, 8000];

// true when the server speaks tus 1.0 at `endpoint`; false for 404/405 (not deployed yet).
export async function tusAvailable(endpoint) {
  try {
    const response = await fetch(endpoint, { method: "OPTIONS", headers: authHeaders() });
    const versions = response.headers.get("Tus-Version") || "";
    return response.ok && versions.split(",").map((v) => v.trim()).includes(TUS_VERSION);
  } catch {
    return false;
  }
}

function encodeMetadata(metadata) {
  const utf8ToBase64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
  return Object.entries(metadata)
    .filter(([, value]) => value)
    .map(([key, value]) => `${key} ${utf8ToBase64(String(value))}`)
    .join(",");
}

class Retryable extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class TusUpload {
  /**
   * file: a File; options: endpoint ("/v1/uploads"), chunkBytes, metadata ({filename, album}),
   * onProgress(sentBytes, totalBytes). start() resolves to {imageId, duplicate} and rejects
   * with ApiError for a refusal (413/415/422...) or after the retries run out.
   */
  constructor(file, { endpoint, chunkBytes, metadata = {}, onProgress = () => {}, onResume = () => {} }) {
    this.file = file;
    this.endpoint = endpoint;
    this.chunkBytes = chunkBytes;
    this.metadata = metadata;
    this.onProgress = onProgress;
    this.onResume = onResume; // onResume(offset): picked up where an earlier try stopped
    this.resumedAt = 0; // the offset of the last resume (0: never resumed)
    this.fingerprint = `gallery.tus:${file.name}:${file.size}:${file.lastModified}`;
    this.url = localStorage.getItem(this.fingerprint);
    this.resumes = 0; // how many times the upload continued after a failure (shown, tested)
  }

  async start() {
    let offset = await this.resumeOrCreate();
    for (let attempt = 0; ; ) {
      try {
        while (offset < this.file.size) offset = await this.patch(offset);
        return this.finish(this.completedResponse);
      } catch (error) {
        if (!(error instanceof Retryable) || attempt >= RETRY_DELAYS_MS.length) throw error;
        await sleep(RETRY_DELAYS_MS[attempt++]);
        offset = await this.currentOffset().catch(() => offset);
        this.resumes += 1;
        this.resumed(offset);
      }
    }
  }

  async resumeOrCreate() {
    if (this.url) {
      const offset = await this.currentOffset().catch(() => null);
      if (offset !== null) {
        this.resumed(offset); // an upload this browser started before a reload
        return offset;
      }
    }
    const response = await fetch(this.endpoint, {
      method: "POST",
      headers: authHeaders({
        "Tus-Resumable": TUS_VERSION,
        "Upload-Length": String(this.file.size),
        "Upload-Metadata": encodeMetadata({ filename: this.file.name, ...this.metadata }),
      }),
    });
    if (response.status !== 201) throw await errorFrom(response);
    this.url = new URL(response.headers.get("Location"), location.href).pathname;
    localStorage.setItem(this.fingerprint, this.url);
    return 0;
  }

  resumed(offset) {
    if (offset <= 0) return;
    this.resumedAt = offset;
    this.onResume(offset);
  }

  // HEAD: how many bytes the server has. A finished upload also names its image.
  async currentOffset() {
    const response = await fetch(this.url, {
      method: "HEAD",
      headers: authHeaders({ "Tus-Resumable": TUS_VERSION }),
      cache: "no-store",
    });
    if (response.status === 404 || response.status === 410) {
      localStorage.removeItem(this.fingerprint);
      this.url = null;
      throw new Error("upload expired");
    }
    if (!response.ok) throw new Retryable(`HEAD ${response.status}`);
    const offset = Number(response.headers.get("Upload-Offset"));
    if (response.headers.get("Gallery-Image-Id")) this.completedResponse = response.headers;
    this.onProgress(offset, this.file.size);
    return offset;
  }

  patch(offset) {
    const chunk = this.file.slice(offset, Math.min(offset + this.chunkBytes, this.file.size));
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      xhr.open("PATCH", this.url);
      const headers = authHeaders({
        "Tus-Resumable": TUS_VERSION,
        "Upload-Offset": String(offset),
        "Content-Type": "application/offset+octet-stream",
      });
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      xhr.upload.onprogress = (event) => this.onProgress(offset + event.loaded, this.file.size);
      xhr.onerror = () => reject(new Retryable("connection lost"));
      xhr.onabort = () => reject(new Error("cancelled"));
      xhr.onload = () => {
        if (xhr.status === 204) {
          const next = Number(xhr.getResponseHeader("Upload-Offset"));
          if (xhr.getResponseHeader("Gallery-Image-Id")) this.completedResponse = new Headers({
            "Gallery-Image-Id": xhr.getResponseHeader("Gallery-Image-Id"),
            "Gallery-Duplicate": xhr.getResponseHeader("Gallery-Duplicate") || "",
          });
          this.onProgress(next, this.file.size);
          resolve(next);
        } else if (xhr.status === 409 || xhr.status === 423 || xhr.status === 429 || xhr.status >= 500) {
          reject(new Retryable(`PATCH ${xhr.status}`)); // offset mismatch, share or busy: ask again
        } else {
          reject(xhrError(xhr));
        }
      };
      xhr.send(chunk);
    });
  }

  finish(headers) {
    localStorage.removeItem(this.fingerprint);
    const imageId = headers && headers.get("Gallery-Image-Id");
    if (!imageId) throw new ApiError(500, "tus", "the upload finished without an image id");
    return { imageId, duplicate: headers.get("Gallery-Duplicate") === "true" };
  }

  // Stop sending and tell the server to drop what it has (termination extension).
  async cancel() {
    if (this.xhr) this.xhr.abort();
    localStorage.removeItem(this.fingerprint);
    if (this.url) {
      await fetch(this.url, { method: "DELETE", headers: authHeaders({ "Tus-Resumable": TUS_VERSION }) }).catch(() => {});
    }
  }
}

export function xhrError(xhr) {
  let error = {};
  try {
    error = JSON.parse(xhr.responseText).error || {};
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(xhr.status, error.code || "http", error.message || `HTTP ${xhr.status}`);
}
