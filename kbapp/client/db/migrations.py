"""The migration runner (kbapp/ml/migrate.py, shared with the photo index)."""

from kbapp.ml.migrate import Step, check_steps, migrate, schema_version

__all__ = ["Step", "check_steps", "migrate", "schema_version"]
