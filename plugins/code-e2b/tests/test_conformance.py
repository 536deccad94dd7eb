"""The SDK's conformance suites against the stand-in E2B.

What a stand-in on this machine cannot show is E2B's job, and the suite skips it, saying so:
keeping the host's files, environment, processes and network away from the code (a fresh
Firecracker microVM per run), and containing a fork bomb. What runs here for real: the SDK's
requests, results and errors, output caps, the wall clock, and the CPU and memory limits
the plugin sets with ulimit inside the sandbox.
"""

from __future__ import annotations

import pytest
from support import StandIn

from synthral_sdk.testing import CodeRuntimeConformance


class TestConformance(CodeRuntimeConformance):
    dist = "synthral-code-e2b"
    capability = "e2b"
    languages = ("python", "javascript")
    network = True
    remote = True

    @pytest.fixture(autouse=True)
    def _point_at_the_stand_in(self, e2b: StandIn) -> None:
        type(self).config = e2b.config()
        type(self).secrets = {"api_key": e2b.api_key}
