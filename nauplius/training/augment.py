"""Plankton augmentations on decoded images (uint8, as `decode_image` gives them).

Each returns an image that `nauplius.core.preprocess.prepare` then pads, resizes and
normalises exactly as the embedder does: training never has its own preprocessing. Nothing here
crops the organism: rotation grows the canvas and scale jitter only adds background around it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from nauplius.core.preprocess import background_colour


@dataclass(frozen=True)
class Augmentation:
    rotation: bool = True              # any angle: organisms have no up
    flips: bool = True                 # horizontal and vertical, each with p=0.5
    greyscale_p: float = 0.0           # colour to grey (kept 3-channel): as grey instruments see it
    blur_p: float = 0.3                # Gaussian blur with sigma in blur_sigma
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    brightness: float = 0.15           # added offset, a fraction of 255
    contrast: float = 0.2              # gain in 1 +- contrast
    scale: tuple[float, float] = (0.75, 1.0)  # organism size relative to its padded canvas

    def describe(self) -> dict:
        return {"order": ["rotation", "flips", "greyscale", "blur", "brightness/contrast",
                          "scale jitter", "embedder padding + resize (preprocess.prepare)"],
                **asdict(self)}

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.rotation:
            image = rotate(image, float(rng.uniform(0.0, 360.0)))
        if self.flips:
            if rng.random() < 0.5:
                image = image[:, ::-1]
            if rng.random() < 0.5:
                image = image[::-1]
        if self.greyscale_p and image.ndim == 3 and rng.random() < self.greyscale_p:
            image = greyscale(image)
        if self.blur_p and rng.random() < self.blur_p:
            sigma = float(rng.uniform(*self.blur_sigma))
            image = cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), sigma)
        if self.brightness or self.contrast:
            image = brightness_contrast(image, 1.0 + float(rng.uniform(-self.contrast, self.contrast)),
                                        255.0 * float(rng.uniform(-self.brightness, self.brightness)))
        lo, hi = self.scale
        if lo < hi or lo < 1.0:
            image = shrink_in_canvas(image, float(rng.uniform(lo, hi)), rng)
        return np.ascontiguousarray(image)


def _fill(image: np.ndarray) -> list[float]:
    value = [float(v) for v in np.atleast_1d(background_colour(image))]
    return value + [0.0] * (4 - len(value))


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre on a canvas grown to hold every corner, filled with the background."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), degrees, 1.0)  # pixel centres
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w = int(np.ceil(h * sin + w * cos - 1e-6))  # tolerance: cos(90 degrees) is 6e-17
    new_h = int(np.ceil(h * cos + w * sin - 1e-6))
    matrix[0, 2] += (new_w - w) / 2.0
    matrix[1, 2] += (new_h - h) / 2.0
    return cv2.warpAffine(np.ascontiguousarray(image), matrix, (new_w, new_h),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=_fill(image))


def greyscale(image: np.ndarray) -> np.ndarray:
    """An RGB image as a grey camera would record it, still 3 channels like the colour ones."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)


def brightness_contrast(image: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """gain about the image mean, plus offset, clipped to 0..255."""
    x = image.astype(np.float32)
    x = (x - x.mean()) * gain + x.mean() + offset
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def shrink_in_canvas(image: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Add background around the image so it fills `scale` of each side, at a random offset."""
    h, w = image.shape[:2]
    pad_h, pad_w = round(h / scale) - h, round(w / scale) - w
    if pad_h <= 0 and pad_w <= 0:
        return image
    top, left = int(rng.integers(0, pad_h + 1)), int(rng.integers(0, pad_w + 1))
    return cv2.copyMakeBorder(np.ascontiguousarray(image), top, pad_h - top, left, pad_w - left,
                              cv2.BORDER_CONSTANT, value=_fill(image))
