"""Remote browsers for SynthralOS: the ``browser`` node over CDP."""

from synthral_browser_remote.remote import RemoteBrowser

__all__ = ["RemoteBrowser"]
