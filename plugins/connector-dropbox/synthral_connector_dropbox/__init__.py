"""Dropbox connector for SynthralOS, declared as data (app.json, functions.json)."""
