"""The ingest gate: a one-pass streaming header scanner (sniff, header, limits).

A step module per format (``jpeg``, ``png``, ``gif``, ``webp``, ``tiff`` incl. TIFF-based
camera RAW, ``isobmff`` for HEIC/AVIF/CR3, ``raf``), driven over the stream by ``stream``.
"""

from pipeline.imaging.scan.scanner import HeaderScanner, scan_header
from pipeline.imaging.scan.stream import BUFFER_BOUND
from pipeline.imaging.scan.tally import ImageHeader

__all__ = ["BUFFER_BOUND", "HeaderScanner", "ImageHeader", "scan_header"]
