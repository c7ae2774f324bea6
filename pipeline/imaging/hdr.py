"""HDR video (10-bit HLG or PQ, BT.2020) tone-mapped to SDR BT.709 for the poster and preview.

A phone's HDR clip (iPhones record HLG by default) converted to 8 bits without tone mapping
looks washed out (HLG) or dark and grey (PQ): the signal's transfer curve is not the one an
SDR player applies. The wheel's FFmpeg has neither ``zscale`` nor ``libplacebo``, and its
``tonemap`` filter needs linear light that only ``zscale`` makes, so the curve is applied
here on frames FFmpeg has already scaled to the preview's size (16-bit RGB, BT.2020):

    signal -> display light (PQ: SMPTE ST 2084 EOTF; HLG: inverse OETF + OOTF, 1000 nits)
      -> BT.2020 to BT.709 primaries -> tone curve on the brightest channel (linear up to
      :data:`KNEE` of SDR white, then a soft roll-off that never clips; HDR reference white,
      203 nits (ITU-R BT.2408), lands at ~91 % of SDR white) -> BT.709 gamma -> 8-bit RGB.

Per-channel curves are lookup tables over the 16-bit codes, so a 1080p frame costs tens of
milliseconds of numpy (see docs/benchmarks.md). Other transfers (SDR) pass untouched.
"""

from __future__ import annotations

from typing import Literal

import av
import numpy as np
import numpy.typing as npt

Transfer = Literal["pq", "hlg"]
# AVColorTransferCharacteristic values (libavutil/pixfmt.h).
_TRANSFERS: dict[int, Transfer] = {16: "pq", 18: "hlg"}

REFERENCE_WHITE_NITS = 203.0  # ITU-R BT.2408: HDR's diffuse white, shown as SDR white
HLG_PEAK_NITS = 1000.0  # the nominal display of HLG's OOTF (ITU-R BT.2100)
KNEE = 0.75  # below this share of SDR white the tone curve is the identity
_GAMMA_STEPS = 4096  # the output table's steps over the square root of linear light

# BT.2020 to BT.709 primaries, in linear light (ITU-R BT.2087).
_TO_709 = np.array(
    [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]],
    dtype=np.float32,
)
_HLG_LUMA = np.array([0.2627, 0.6780, 0.0593], dtype=np.float32)  # BT.2020 luminance

Array = npt.NDArray[np.float32]


def transfer_of(stream: av.VideoStream) -> Transfer | None:
    """``pq`` or ``hlg`` for an HDR stream (by its colour transfer), else None."""
    return _TRANSFERS.get(int(stream.codec_context.color_trc or 0))


class ToneMapper:
    """Maps 16-bit BT.2020 RGB frames of one transfer to 8-bit BT.709 RGB (:meth:`rgb24`)."""

    def __init__(self, transfer: Transfer) -> None:
        self.transfer = transfer
        codes = np.arange(65536, dtype=np.float64) / 65535.0
        # Per channel: PQ gives display light, HLG scene light (its OOTF needs luminance).
        self._light = (_pq_eotf(codes) if transfer == "pq" else _hlg_inverse_oetf(codes)).astype(
            np.float32
        )
        roots = np.linspace(0.0, 1.0, _GAMMA_STEPS, dtype=np.float64)
        self._gamma = np.round(_bt709_oetf(roots**2) * 255.0).astype(np.uint8)

    def rgb24(self, frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
        """The frame's pixels (an HDR signal, BT.2020) as H x W x 3 uint8 BT.709 SDR RGB."""
        rgb48 = np.asarray(frame.to_ndarray(format="rgb48le"), dtype=np.uint16)
        light = self._light[rgb48]
        if self.transfer == "hlg":
            luma = np.maximum(light @ _HLG_LUMA, 1e-6)
            light = light * (HLG_PEAK_NITS * luma**0.2)[..., None]  # OOTF, system gamma 1.2
        sdr = np.maximum(light @ (_TO_709.T / REFERENCE_WHITE_NITS), 0.0)
        # The brightest channel (three maximums: 6x faster than max over the last axis).
        peak = np.maximum(np.maximum(sdr[..., 0], sdr[..., 1]), np.maximum(sdr[..., 2], 1e-6))
        sdr *= (_roll_off(peak) / peak)[..., None]  # one scale per pixel: hues stay as they were
        np.minimum(sdr, 1.0, out=sdr)
        index = np.sqrt(sdr, out=sdr) * (_GAMMA_STEPS - 1)
        out: npt.NDArray[np.uint8] = self._gamma[index.astype(np.int32)]
        return out

    def frame(self, frame: av.VideoFrame) -> av.VideoFrame:
        """A decoded (or filtered) frame, tone-mapped, as a ``yuv420p`` BT.709 frame with the
        same timestamps."""
        rgb = self.rgb24(frame)
        out = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p", dst_colorspace="ITU709"
        )
        out.pts = frame.pts
        if frame.time_base is not None:
            out.time_base = frame.time_base
        return out


def _roll_off(x: Array) -> Array:
    """Identity up to :data:`KNEE`, then an exponential approach to 1 with slope 1 at the
    knee: highlights are compressed, never clipped flat."""
    head = 1.0 - KNEE
    rolled = KNEE + head * (1.0 - np.exp(-(x - KNEE) / head))
    return np.where(x <= KNEE, x, rolled).astype(np.float32)


def _pq_eotf(signal: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """SMPTE ST 2084: signal in [0, 1] -> display light in nits (0-10000)."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    p = signal ** (1 / m2)
    return 10000.0 * (np.maximum(p - c1, 0.0) / (c2 - c3 * p)) ** (1 / m1)


def _hlg_inverse_oetf(signal: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """ITU-R BT.2100 HLG: signal in [0, 1] -> normalised scene light in [0, 1]."""
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    low = signal**2 / 3.0
    high = (np.exp((np.maximum(signal, 0.5) - c) / a) + b) / 12.0
    return np.where(signal <= 0.5, low, high)


def _bt709_oetf(light: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """ITU-R BT.709's camera curve: linear light in [0, 1] -> signal in [0, 1]."""
    return np.where(light < 0.018, 4.5 * light, 1.099 * light**0.45 - 0.099)
