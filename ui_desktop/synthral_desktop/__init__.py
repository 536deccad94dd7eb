"""SynthralOS on the desktop."""
