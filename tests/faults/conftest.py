"""The fault tests serve the models the serving tests train (once per run, shared)."""

from tests.serving.conftest import trained_home  # noqa: F401  (the fixture, re-exported)
