"""StyleGAN2 generator, its reference ops, and checkpoint loading (installed as draggan_fast.stylegan)."""

from draggan_fast.stylegan.networks import Generator, MappingNetwork, SynthesisNetwork

__all__ = ["Generator", "MappingNetwork", "SynthesisNetwork"]
