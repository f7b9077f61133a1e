"""Domain errors of the embedder; routes turn them into per-file errors or HTTP answers."""


class EmbedderError(Exception):
    """Base class: the message names the problem for the client."""


class UndecodableImage(EmbedderError):
    """The bytes are empty, truncated or not an image format we read."""


class ImageTooLarge(EmbedderError):
    """The file is over the byte limit, or the image over the pixel or the longest-side limit."""


class ModelCardError(EmbedderError):
    """A model's card is missing or does not match its ONNX file."""
