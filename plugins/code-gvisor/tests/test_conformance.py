"""The SDK's conformance suites: the plugin checks and the code-runtime checks."""

from __future__ import annotations

from synthral_sdk.testing import CodeRuntimeConformance, Example


class TestConformance(CodeRuntimeConformance):
    dist = "synthral-code-gvisor"
    capability = "gvisor"
    examples = (
        Example(
            "gvisor",
            {"language": "python", "code": "result = sum(inputs['n'])", "inputs": {"n": [1, 2]}},
            operation="execute",
            expected={"result": 3, "exit_code": 0},
        ),
    )
    languages = ("python", "javascript")
    network = True
