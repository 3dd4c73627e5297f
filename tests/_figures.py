"""What a saved figure file holds, for the plot tests: it decodes as an image (PNG pixels, an SVG root element)
of the size the figure itself gives, and a PNG is not one flat colour.

sweep.views.plots.save writes with `dpi=130, bbox_inches="tight"`: the file is the figure's tight bounding box,
laid out at 130 dpi and padded by matplotlib's `savefig.pad_inches` (0.1 inch), so its size is computed here
from the figure, not written down; a figure saved without `bbox_inches` is its full size at the dpi.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import matplotlib.image
import numpy as np

SAVE_DPI = 130
"""The dpi of sweep.views.plots.save."""


def tight_inches(fig, dpi: float = SAVE_DPI) -> tuple[float, float]:
    """(width, height) in inches of `fig` as savefig(dpi=dpi, bbox_inches="tight") crops it: its tight bounding
    box with the figure laid out at `dpi`, padded by savefig.pad_inches. Sets fig.dpi; call it after saving."""
    fig.dpi = dpi
    fig.draw_without_rendering()
    box = fig.get_tightbbox().padded(matplotlib.rcParams["savefig.pad_inches"])
    return box.width, box.height


def assert_png(path, width: float, height: float) -> np.ndarray:
    """`path` decodes as a PNG of `width` x `height` pixels (to the rounding of a fractional size) holding more
    than one colour; returns its pixels (rows, columns, channels)."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG (starts {data[:8]!r})"
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4), f"{path}: pixels of shape {pixels.shape}, not RGB(A)"
    rows, cols = pixels.shape[:2]
    assert abs(cols - width) < 1 and abs(rows - height) < 1, \
        f"{path}: {cols} x {rows} pixels, the figure gives {width:.1f} x {height:.1f}"
    assert np.ptp(pixels[..., :3].reshape(-1, 3), axis=0).max() > 0, f"{path}: one flat colour"
    return pixels


def assert_saved_png(fig, path) -> np.ndarray:
    """`path`, written by sweep.views.plots.save(fig, ...), is a PNG of the pixel size of fig's tight box."""
    width, height = tight_inches(fig)
    return assert_png(path, width * SAVE_DPI, height * SAVE_DPI)


def assert_saved_svg(fig, path) -> str:
    """`path`, written by sweep.views.plots.save(fig, ...), is an SVG document whose root <svg> element has the
    size of fig's tight box in points (72 per inch); returns its text."""
    text = Path(path).read_text()
    assert text.startswith("<?xml"), f"{path}: not an XML document (starts {text[:40]!r})"
    root = re.search(r"<svg\b[^>]*>", text)
    assert root, f"{path}: no <svg> element"
    size = dict(re.findall(r'\b(width|height)="([0-9.]+)pt"', root.group(0)))
    assert set(size) == {"width", "height"}, f"{path}: the <svg> element gives no size in pt: {root.group(0)[:300]}"
    width, height = tight_inches(fig)
    assert abs(float(size["width"]) - width * 72) < 0.5 and abs(float(size["height"]) - height * 72) < 0.5, \
        f"{path}: {size['width']} x {size['height']} pt, the figure gives {width * 72:.1f} x {height * 72:.1f}"
    return text
