"""Dataset versions: snapshots, checkout, diffs and remotes, on disk compatible with DVC 3."""
