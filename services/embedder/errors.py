"""Domain errors of the embedder; routes turn them into per-file errors or HTTP answers.

A refused image file is an `ImageRefused` of nauplius.core.preprocess (`UndecodableImage`,
`ImageTooLarge`), shared with the trainer.
"""


class EmbedderError(Exception):
    """Base class: the message names the problem for the client."""


class ModelCardError(EmbedderError):
    """A model's card is missing or does not match its ONNX file."""
