"""Nauplius: label and search plankton images by similarity."""
