"""Image files on disk: folders of images, optionally laid out `<class>/<image>`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}


@dataclass(frozen=True)
class ImageFile:
    path: Path
    label: str | None  # the parent folder's name, where the folder names the class

    @property
    def taxon(self) -> str:
        """The label of an image of a labelled set (`<class>/<image>` folders)."""
        if self.label is None:
            raise ValueError(f"{self.path} has no label: expected <class>/<image> folders")
        return self.label


def find_images(paths: list[Path], label_from_folder: bool = False) -> list[ImageFile]:
    """All image files under the given files and folders, sorted, each listed once."""
    found: dict[Path, ImageFile] = {}
    for root in paths:
        if not root.exists():
            raise FileNotFoundError(f"no such file or folder: {root}")
        candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in candidates:
            if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
                label = path.parent.name if label_from_folder else None
                found.setdefault(path.resolve(), ImageFile(path, label))
    return sorted(found.values(), key=lambda f: str(f.path))


def labelled_images(folder: Path) -> list[ImageFile]:
    """Images of a folder laid out `<class>/<image>`; the class is the image's parent folder."""
    images = [f for f in find_images([folder], label_from_folder=True) if f.path.parent != folder]
    if not images:
        raise ValueError(f"{folder} holds no images laid out <class>/<image>")
    return images
