"""Files moved out of the way, not deleted, until what replaces them has something to show.

A fresh training run in a folder that holds an earlier run must not leave that run's files for a later resume to
load, nor destroy them before the new run has written anything worth keeping: a run that is refused, runs out
of memory or diverges at its third step would otherwise leave the folder with neither run.  So the earlier files
are renamed into a hidden sub-folder (same file system: nothing is copied), :meth:`SetAside.drop` deletes them
once the new run has written its first checkpoint, and :meth:`SetAside.put_back` restores them, replacing the
new files of the same names, if it ends before that.  A process killed in between leaves the sub-folder behind;
the next :class:`SetAside` (or :func:`put_back_leftover`) in that folder puts its files back first, since the
run that set them aside never reached a checkpoint.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

HOLD = ".previous-run"


class SetAside:
    """Set aside the files ``names`` (those that exist) of ``folder``; see the module docstring.

    ``held`` lists the names moved.  With nothing moved, :meth:`put_back` and :meth:`drop` change nothing."""

    def __init__(self, folder: str | os.PathLike, names, hold: str = HOLD):
        self.folder = Path(folder)
        self.names = tuple(names)
        self.hold = self.folder / hold
        put_back_leftover(self.folder, self.names, hold)
        self.held: list[str] = []
        for name in self.names:
            if (self.folder / name).is_file():
                self.hold.mkdir(exist_ok=True)
                os.replace(self.folder / name, self.hold / name)
                self.held.append(name)

    def put_back(self) -> bool:
        """Restore the files set aside (the new files of the set's names are removed); True if any were."""
        restored = _restore(self.folder, self.names, self.hold, self.held)
        self.held = []
        return restored

    def drop(self) -> None:
        """Delete the files set aside: what replaces them has been written."""
        if self.held:
            shutil.rmtree(self.hold, ignore_errors=True)
            self.held = []


def put_back_leftover(folder: str | os.PathLike, names, hold: str = HOLD) -> bool:
    """Restore files a killed process had set aside in ``folder`` (see the module docstring); True if any."""
    hold_dir = Path(folder) / hold
    return hold_dir.is_dir() and _restore(Path(folder), tuple(names), hold_dir,
                                          [name for name in names if (hold_dir / name).is_file()])


def _restore(folder: Path, names: tuple, hold: Path, held: list) -> bool:
    """Move the files ``held`` back from ``hold`` into ``folder``, first removing the files of ``names`` that the
    earlier files did not include (written since); True if there were any."""
    if held:
        for name in names:
            if name not in held:
                (folder / name).unlink(missing_ok=True)
        for name in held:
            os.replace(hold / name, folder / name)
    try:
        hold.rmdir()                                   # only while empty
    except OSError:
        pass
    return bool(held)
