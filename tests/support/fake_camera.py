"""A camera for Chromium that films a QR code: a Y4M video file (uncompressed YUV frames behind
a one-line header, so Python writes it with neither an image library nor ffmpeg) for
`--use-file-for-fake-video-capture`, which Chromium plays in a loop as the only camera."""

from __future__ import annotations

from pathlib import Path

import segno

from parties import qr


def qr_video(
    path: Path,
    text: str,
    *,
    width: int = 640,
    height: int = 480,
    module_px: int = 8,
    frames: int = 5,
) -> Path:
    """`text`'s QR code as the door would see it (drawn as parties.qr draws it: the same error
    correction and quiet zone), black on white in the middle of a grey frame."""
    modules = segno.make_qr(text, error=qr.ERROR_CORRECTION).matrix_iter(border=qr.QUIET_ZONE)
    rows = [bytes(255 if not dark else 0 for dark in row) for row in modules]
    side = len(rows) * module_px
    assert side <= min(width, height), "the code must fit in the frame"
    left, top = (width - side) // 2, (height - side) // 2

    luma = bytearray([128]) * (width * height)  # mid grey around the code
    for y in range(side):
        row = rows[y // module_px]
        start = (top + y) * width + left
        luma[start : start + side] = bytes(row[x // module_px] for x in range(side))
    chroma = bytes([128]) * ((width // 2) * (height // 2) * 2)  # no colour: U and V at 128
    frame = b"FRAME\n" + bytes(luma) + chroma

    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * frames)
    return path
