"""Security events to Wazuh or any SIEM, as RFC 5424 syslog messages carrying JSON."""

from __future__ import annotations

from synthral_obs_wazuh.send import SecurityEvent, SendConfig, SendSecurityEvents

__all__ = ["SecurityEvent", "SendConfig", "SendSecurityEvents"]
