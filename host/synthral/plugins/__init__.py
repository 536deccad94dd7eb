"""The host side of plugins: install, supervise, resolve."""
