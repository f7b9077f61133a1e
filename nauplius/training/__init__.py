"""Fine-tuning the embedding CNN on labelled plankton (needs the `train` extra: torch)."""
