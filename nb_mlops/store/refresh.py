"""Write a fresh catalog checkpoint: `python -m nb_mlops.store.refresh CATALOG_FOLDER`.

Started detached by a reader that had to replay much of the journal past the checkpoint
(Catalog.refresh_in_background), so the next cold reader does not. It exits quietly when
another process is writing one, and on any failure: a checkpoint only saves time.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from nb_mlops.store.catalog import SHAPES, Catalog

    if len(argv) != 1:
        print("usage: python -m nb_mlops.store.refresh CATALOG_FOLDER", file=sys.stderr)
        return 2
    catalog = Catalog(Path(argv[0]), SHAPES)
    catalog.journal.on_stale = None  # this process is the refresh
    try:
        return 0 if catalog.write_checkpoint() else 1
    except Exception:
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
