"""Text embeddings from sentence-transformers models on the CPU (PyTorch): the bundled all-MiniLM-L6-v2 or your own."""

from synthral_embed_sentence_transformers.embedder import SentenceTransformersEmbedder, STConfig

__all__ = ["STConfig", "SentenceTransformersEmbedder"]
