"""The durable workflow engine: workflow graphs compiled to LangGraph, run from a database queue."""
