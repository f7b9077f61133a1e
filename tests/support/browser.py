"""What the browser tests share: Debian's chromium, and screenshots of each view kept under
NAUPLIUS_SCREENSHOTS when it is set (to look at the pages, not to compare pixels)."""

import os
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")


class Shots:
    def __init__(self, page: Any) -> None:
        self.page = page
        self.folder = os.environ.get("NAUPLIUS_SCREENSHOTS")

    def take(self, name: str) -> None:
        if self.folder:
            Path(self.folder).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(self.folder) / f"{name}.png"))
