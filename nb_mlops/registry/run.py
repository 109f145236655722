"""The run handle that can register the models it makes.

Runs are tracking's and model versions are the registry's; a run that registers a model joins
the two, so the handle that does it is defined here, a floor above runs. `nm.start_run` and
`%%track` hand it out (as `track` inside a tracked cell).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nb_mlops.tracking import run as tracking_run

if TYPE_CHECKING:
    from nb_mlops.registry.versions import ModelVersion


class Run(tracking_run.Run):
    """The handle of an active run: `track` inside a tracked cell, what `nm.start_run` returns.

    Everything a run records (params, metrics, artifacts, figures, tables) plus `model`, which
    registers a model version made by the run.
    """

    def model(
        self,
        model: Any,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
        data: str | os.PathLike | list[str | os.PathLike] | None = None,
        flavor: str | None = None,
    ) -> ModelVersion:
        """`track.model(model, "review-clf")`: register the next version of a model, made by this
        run (its params, metrics and data versions become the version's lineage)."""
        from nb_mlops.registry.versions import register

        self.check_open("register a model")
        return register(
            self.ws,
            name,
            model,
            run=self,
            description=description,
            tags=tags,
            data=data,
            flavor=flavor,
        )
