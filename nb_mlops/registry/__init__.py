"""The model registry: versions of named models, aliases with history, deploy hooks, loading."""
