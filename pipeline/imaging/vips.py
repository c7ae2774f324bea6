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
* **No libvips-owned fallback profile on an image.** When ``icc_import`` (or ``thumbnail``,
  which calls it for CMYK) falls back to a built-in input profile, libvips attaches that
  profile's blob to the output as ``icc-profile-data`` without taking a reference; the blob
  belongs to the ``profile_load`` operation, which with the cache off is freed as soon as
  the import is built (libvips/libvips#2713). Reading the field then reads freed memory: a
  fresh process died with SIGSEGV on every untagged CMYK JPEG. So the built-in CMYK profile
  is copied once into :data:`CMYK_PROFILE` (bytes Python owns) and the decoder attaches that
  copy to untagged CMYK images, which are then imported with ``embedded=True``: no
  ``input_profile`` name is ever passed to libvips.
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


def _builtin_profile(name: str) -> bytes:
    # profile_load's blob output is copied into Python bytes while the operation still holds
    # it, so the copy outlives the operation (unlike a fallback attached by icc_import).
    profile = pyvips.Operation.call("profile_load", name)
    assert isinstance(profile, bytes)
    return profile


# libvips' built-in CMYK profile (its "cmyk" fallback, ~940 KB), owned by this process.
CMYK_PROFILE = _builtin_profile("cmyk")

Error = pyvips.Error
Image = pyvips.Image
GValueInt = pyvips.GValue.gint_type
GValueBlob = pyvips.GValue.blob_type
GValueArrayInt = pyvips.GValue.array_int_type

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
