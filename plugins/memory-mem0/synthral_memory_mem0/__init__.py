"""Mem0 long-term memory as a store: local Qdrant, SQLite history, the host's vectors, optional fact extraction."""

from synthral_memory_mem0.store import Mem0Config, Mem0Store

__all__ = ["Mem0Config", "Mem0Store"]
