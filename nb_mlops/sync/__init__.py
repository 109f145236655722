"""Handing over to existing engines when a team outgrows one machine (floor 5).

`nb-mlops mlflow sync` pushes runs and registered models to an MLflow tracking server and
`nb-mlops mlflow import` brings its runs back; both go through MLflow's own client (the
`mlflow` extra), imported only when a sync starts. Data goes to object storage through the
remotes of data/ (`s3://` and any fsspec URL), not through this package.
"""
