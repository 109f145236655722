"""A real jupyter_server with the nb-mlops extension, for the tests of this folder only.

pytest-jupyter's fixtures are brought in here, not as a plugin for the whole suite: some are
autouse (an event loop and a server cleanup around every test), which only these tests need.
"""

from __future__ import annotations

from pytest_jupyter.jupyter_core import *  # noqa: F403
from pytest_jupyter.jupyter_server import *  # noqa: F403
