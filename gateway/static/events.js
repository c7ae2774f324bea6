// The live event stream, GET /v1/events (Server-Sent Events, parsed as in the HTML standard's
// "event stream interpretation": https://html.spec.whatwg.org/multipage/server-sent-events.html).
// Read with fetch, not EventSource, because EventSource cannot send the Authorization header.
// After a drop it reconnects with Last-Event-ID (the server replays what was missed when it
// can). Every time the stream opens, the first time too, it calls onConnected so the page
// re-lists and catches up on whatever happened while it was not listening.

import { authHeaders } from "./api.js";

const BACKOFF_MS = [500, 1000, 2000, 5000, 10000];
// The server writes a keepalive comment every 15 s; silence for longer means a dead link.
const SILENCE_MS = 40000;

export class EventStream {
  /** onEvent({type, id, data}), onState("connecting" | "live" | "offline"), onConnected(). */
  constructor({ onEvent, onState, onConnected, onUnauthorized }) {
    Object.assign(this, { onEvent, onState, onConnected, onUnauthorized });
    this.lastEventId = "";
    this.controller = null;
    this.running = false;
    this.wake = null;
    this.onOnline = () => this.wake && this.wake();
  }

  start() {
    this.running = true;
    window.addEventListener("online", this.onOnline);
    this.loop();
  }

  stop() {
    this.running = false;
    window.removeEventListener("online", this.onOnline);
    if (this.controller) this.controller.abort();
    if (this.wake) this.wake();
  }

  async loop() {
    let failures = 0;
    let connectedBefore = false;
    while (this.running) {
      this.onState(connectedBefore ? "offline" : "connecting");
      const opened = await this.connectOnce(() => {
        this.onConnected();
        connectedBefore = true;
        failures = 0;
      });
      if (!this.running) return;
      if (opened === "unauthorized") return this.onUnauthorized();
      this.onState("offline");
      await this.pause(BACKOFF_MS[Math.min(failures++, BACKOFF_MS.length - 1)]);
    }
  }

  // Wait before reconnecting, but not when the browser says the network is back.
  pause(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  async connectOnce(onOpen) {
    this.controller = new AbortController();
    const headers = authHeaders({ Accept: "text/event-stream" });
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    let watchdog;
    const feed = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => this.controller.abort(), SILENCE_MS);
    };
    try {
      const response = await fetch("/v1/events", { headers, signal: this.controller.signal, cache: "no-store" });
      if (response.status === 401) return "unauthorized";
      if (!response.ok || !response.body) return "failed";
      this.onState("live");
      onOpen();
      feed();
      await this.read(response.body.pipeThrough(new TextDecoderStream()).getReader(), feed);
      return "ended";
    } catch {
      return "failed";
    } finally {
      clearTimeout(watchdog);
    }
  }

  async read(reader, feed) {
    let buffer = "";
    let frame = { type: "message", data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      feed();
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop(); // an incomplete last line waits for more bytes
      for (const line of lines) {
        if (line === "") {
          this.dispatch(frame);
          frame = { type: "message", data: [], id: null };
          continue;
        }
        if (line.startsWith(":")) continue; // comment: keepalive
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") frame.type = text;
        else if (field === "data") frame.data.push(text);
        else if (field === "id" && !text.includes("\0")) frame.id = text;
      }
    }
  }

  dispatch(frame) {
    if (frame.id !== null) this.lastEventId = frame.id;
    if (!frame.data.length) return;
    let data;
    try {
      data = JSON.parse(frame.data.join("\n"));
    } catch {
      data = { message: frame.data.join("\n") }; // e.g. the final `event: error` frame
    }
    const type = frame.type !== "message" ? frame.type : data.type;
    this.onEvent({ type, id: frame.id, data });
  }
}
