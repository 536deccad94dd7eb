"""HTTP requests for SynthralOS workflows: the ``request`` node.

The node sends one request with any method and a JSON, form, text or blob body, attaches a
granted credential as configured, and returns the status, headers and body (JSON or text
inline, binary content as a blob reference).
"""

from synthral_http.models import AuthConfig, RequestConfig, RequestInput, RequestOutput
from synthral_http.request import HttpRequest, parse_retry_after

__all__ = ["AuthConfig", "HttpRequest", "RequestConfig", "RequestInput", "RequestOutput", "parse_retry_after"]
