"""Static text embeddings with Model2Vec for SynthralOS."""

from synthral_embed_model2vec.embedder import BUNDLED_MODEL, Model2VecConfig, Model2VecEmbedder

__all__ = ["BUNDLED_MODEL", "Model2VecConfig", "Model2VecEmbedder"]
