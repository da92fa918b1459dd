"""Files lapor-sync writes for later: readable and writable by their owner alone.

They hold credentials (the demo's configuration file) or personal-data-shaped records (a saved
simulator world); anyone else on the machine must not read them (SECURITY.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO


def open_private(path: Path) -> TextIO:
    """Open ``path`` for writing UTF-8 text, emptied, with mode 0600 whether it is new or not.

    ``O_CREAT`` applies its mode to a new file only: a file left over (an older demo's, an
    interrupted save's temporary file) keeps its mode unless it is set again.

    Raises:
        OSError: the file cannot be created or opened.
    """
    file = open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8")
    os.fchmod(file.fileno(), 0o600)
    return file
