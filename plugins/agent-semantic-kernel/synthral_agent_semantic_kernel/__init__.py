"""Plugin-chain agents on Microsoft Semantic Kernel for SynthralOS."""

from synthral_agent_semantic_kernel.agent import KernelAgent

__all__ = ["KernelAgent"]
