"""Security primitives of server mode: sealing secrets, passwords, tokens, one-time codes."""
