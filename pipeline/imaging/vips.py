"""The one place that imports pyvips and sets its process-wide policy.

Importing this module configures libvips once for the whole process (the settings are global
in libvips itself, so there is nothing per-call to configure):

* **Only the loaders we sniff for can run.** libvips picks a loader from the bytes, and it has
  loaders for formats we never want to parse from a stranger (SVG via librsvg, the ``.vips``
  and matrix formats, CSV ...). We block every loader, then unblock those of the types the
  gate's scanner (:mod:`pipeline.imaging.scan`) admits; on top, ``block_untrusted_set`` blocks
  whatever libvips itself marks as not fuzzed for hostile input.
* **No operation cache.** Every job is a different image, so the cache never hits, yet by
  default it keeps up to 100 MB / 100 operations alive - and with them references to whole
  input buffers - between jobs (imgproxy turns it off for the same reason).
"""

from __future__ import annotations

import os

import pyvips

# Class names of the loaders allowed to run (libvips matches sub-classes: the buffer, file
# and source variants of each).
ALLOWED_LOADERS = (
    "VipsForeignLoadJpeg",
    "VipsForeignLoadPng",
    "VipsForeignLoadNsgif",
    "VipsForeignLoadWebp",
    "VipsForeignLoadHeif",
    "VipsForeignLoadTiff",
)


def _configure() -> None:
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeignLoad", True)
    for name in ALLOWED_LOADERS:
        pyvips.operation_block_set(name, False)
    pyvips.cache_set_max(0)
    pyvips.cache_set_max_mem(0)
    pyvips.cache_set_max_files(0)


_configure()

Error = pyvips.Error
Image = pyvips.Image
GValueInt = pyvips.GValue.gint_type
GValueBlob = pyvips.GValue.blob_type

# Savers for the formats a RenditionSpec may ask for; heifsave writes AVIF with AV1.
SAVERS: dict[str, str] = {
    "webp": "webpsave_buffer",
    "jpeg": "jpegsave_buffer",
    "avif": "heifsave_buffer",
    "png": "pngsave_buffer",
}


def has_operation(name: str) -> bool:
    """Whether this libvips build has the operation (e.g. a saver)."""
    try:
        pyvips.Operation.new_from_name(name)
    except pyvips.Error:
        return False
    return True


def error_reason(exc: pyvips.Error) -> str:
    """The useful line of a libvips error (its detail, not "unable to call ...")."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = [line for line in lines if not line.startswith("unable to call")]
    return (detail or lines or ["unknown libvips error"])[-1]


def version() -> str:
    """libvips version, e.g. ``8.18.7``."""
    return ".".join(str(pyvips.version(i)) for i in range(3))


def set_threads(threads: int) -> None:
    """Run each libvips pipeline on ``threads`` threads (0 leaves libvips' default).

    Also exported as ``VIPS_CONCURRENCY``, which render child processes started later read
    when libvips starts in them. libvips' default is one thread per CPU of the machine; in a
    container limited to fewer cores, every render then competes with itself.
    """
    if threads > 0:
        os.environ["VIPS_CONCURRENCY"] = str(threads)
        pyvips.concurrency_set(threads)
