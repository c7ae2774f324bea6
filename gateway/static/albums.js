// Albums (API: /v1/albums, see docs/api.md): the album bar (all photos, each album, new
// album), the current album's title with rename/delete, and "add the selected photos".
// When the gateway has no albums yet (GET /v1/albums answers 404) the album controls stay
// hidden and the rest of the page works as before.

import { ApiError, apiJson, el } from "./api.js";
import { askConfirm, askText } from "./dialogs.js";

const $ = (id) => document.getElementById(id);

export class Albums {
  /** onBrowse(albumId | null): show that album (or everything); say(text): announce. */
  constructor({ onBrowse, say }) {
    Object.assign(this, { onBrowse, say });
    this.available = false;
    this.items = [];
    this.current = null;
    $("album-new").addEventListener("click", () => this.create());
    $("album-rename").addEventListener("click", () => this.rename());
    $("album-delete").addEventListener("click", () => this.remove());
    $("album-target").addEventListener("change", async (event) => {
      if (event.target.value !== "__new") return;
      const album = await this.create();
      event.target.value = album ? album.id : "";
    });
  }

  get currentAlbum() {
    return this.items.find((album) => album.id === this.current) || null;
  }

  reset() {
    this.items = [];
    this.current = null;
    this.available = false;
    this.render();
  }

  async load() {
    try {
      const items = [];
      let cursor = null;
      do {
        const query = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : "?limit=100";
        const page = await apiJson(`/v1/albums${query}`);
        items.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor && items.length < 1000);
      this.items = items;
      this.available = true;
    } catch (error) {
      if (!(error instanceof ApiError) || (error.status !== 404 && error.status !== 405)) throw error;
      this.available = false; // this gateway has no albums (yet)
    }
    this.render();
  }

  render() {
    document.body.classList.toggle("has-albums", this.available);
    const chip = (id, name, count) =>
      el(
        "li",
        {},
        el(
          "button",
          { type: "button", class: "chip", "data-album": id || "", "aria-pressed": String(this.current === id), onclick: () => this.browse(id) },
          el("span", { class: "chip-name", text: name }),
          count === undefined ? "" : el("span", { class: "chip-count", text: String(count) }),
        ),
      );
    $("album-list").replaceChildren(chip(null, "All photos"), ...this.items.map((a) => chip(a.id, a.name, a.image_count)));
    markOverflow($("album-list"));
    const album = this.currentAlbum;
    $("view-title").textContent = album ? album.name : "All photos";
    $("album-actions").hidden = !album;
    const target = $("album-target");
    const chosen = target.value;
    target.replaceChildren(
      el("option", { value: "", text: "Add to album…" }),
      ...this.items.map((a) => el("option", { value: a.id, text: a.name })),
      el("option", { value: "__new", text: "New album…" }),
    );
    target.value = [...target.options].some((o) => o.value === chosen) ? chosen : "";
  }

  browse(id) {
    this.current = id;
    this.render();
    this.onBrowse(id);
  }

  async create() {
    const name = await askText({ title: "New album", label: "Album name", action: "Create" });
    if (!name) return null;
    try {
      const album = await apiJson("/v1/albums", { method: "POST", json: { name } });
      this.items = [album, ...this.items.filter((a) => a.id !== album.id)];
      this.render();
      this.say(`Created album ${album.name}`);
      return album;
    } catch (error) {
      this.say(`Could not create the album: ${error.message}`);
      return null;
    }
  }

  async rename() {
    const album = this.currentAlbum;
    if (!album) return;
    const name = await askText({ title: "Rename album", label: "Album name", value: album.name, action: "Rename" });
    if (!name || name === album.name) return;
    try {
      this.replace(await apiJson(`/v1/albums/${album.id}`, { method: "PATCH", json: { name } }));
      this.say(`Renamed to ${name}`);
    } catch (error) {
      this.say(`Could not rename: ${error.message}`);
    }
  }

  async remove() {
    const album = this.currentAlbum;
    if (!album) return;
    const message = `The album goes; its ${album.image_count} photos stay in your gallery.`;
    if (!(await askConfirm({ title: `Delete album ${album.name}?`, message, action: "Delete album" }))) return;
    try {
      await apiJson(`/v1/albums/${album.id}`, { method: "DELETE" });
      this.items = this.items.filter((a) => a.id !== album.id);
      this.browse(null);
      this.say(`Deleted album ${album.name}`);
    } catch (error) {
      this.say(`Could not delete the album: ${error.message}`);
    }
  }

  // Add photos to the album picked in #album-target; returns true when all went in.
  async addSelected(ids) {
    let albumId = $("album-target").value;
    if (albumId === "__new") albumId = (await this.create())?.id;
    if (!albumId) {
      this.say("Pick an album first");
      return false;
    }
    try {
      for (const id of ids) await apiJson(`/v1/albums/${albumId}/images/${id}`, { method: "PUT" });
      await this.refresh(albumId);
      const album = this.items.find((a) => a.id === albumId);
      this.say(`Added ${ids.length} ${ids.length === 1 ? "photo" : "photos"} to ${album ? album.name : "the album"}`);
      return true;
    } catch (error) {
      this.say(`Could not add to the album: ${error.message}`);
      return false;
    }
  }

  async refresh(albumId) {
    try {
      this.replace(await apiJson(`/v1/albums/${albumId}`));
    } catch (error) {
      if (error.status === 404) {
        this.items = this.items.filter((a) => a.id !== albumId);
        if (this.current === albumId) this.browse(null);
        else this.render();
      }
    }
  }

  replace(album) {
    const known = this.items.some((a) => a.id === album.id);
    this.items = known ? this.items.map((a) => (a.id === album.id ? album : a)) : [album, ...this.items];
    this.render();
  }
}

// The chip row scrolls sideways with its scrollbar hidden: data-more ("start", "end" or
// "both") fades the edge that has more chips behind it, so a phone shows the row goes on.
export function markOverflow(list) {
  const update = () => {
    const start = list.scrollLeft > 1;
    const end = list.scrollLeft + list.clientWidth < list.scrollWidth - 1;
    list.dataset.more = start && end ? "both" : start ? "start" : end ? "end" : "";
  };
  if (!list.dataset.watched) {
    list.dataset.watched = "true";
    list.addEventListener("scroll", update, { passive: true });
    new ResizeObserver(update).observe(list);
  }
  update();
}
