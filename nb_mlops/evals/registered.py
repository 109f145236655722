"""A registered model (`models:/NAME@ALIAS`, `models:/NAME/3`) as an evaluation model.

A version registered from a transformers folder loads as a local transformers model; one
registered from a Python object that generates text (or gives log-likelihoods) is called as is.
Either way its identity is the registry's: the model's name, the version number the alias
pointed at when the evaluation began, and the version's fingerprint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nb_mlops.evals.model import Adapter, CallableModel, EvalError, ModelIdentity
from nb_mlops.store.workspace import Workspace, open_workspace


def registered_model(spec: str, *, workspace: Workspace | None = None, **options: Any) -> Adapter:
    """The Adapter for the version `spec` names, with the registry's identity."""
    from nb_mlops.registry.load import load_model
    from nb_mlops.registry.versions import get_version

    ws = workspace or open_workspace()
    version = get_version(ws, spec)
    trust = bool(options.pop("trust", False))
    loaded = load_model(ws, version, trust=trust)
    adapter: Adapter
    if isinstance(loaded, Path):
        if not (loaded / "config.json").is_file():
            raise EvalError(
                f"{spec} is a {version.doc.get('flavor')} artifact without a transformers "
                "config.json: register a transformers folder or a callable model"
            )
        from nb_mlops.evals.hf import HFModel

        adapter = HFModel(loaded, **options)
    else:
        adapter = CallableModel(loaded, name=version.name)
    adapter.identity = ModelIdentity(
        provider="registry",
        name=version.name,
        version=str(version.version),
        fingerprint=version.fingerprint or None,
        settings=adapter.identity.settings,
    )
    return adapter
