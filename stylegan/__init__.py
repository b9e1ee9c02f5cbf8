"""StyleGAN2 generator, reference ops and checkpoint loading (as draggan_fast.stylegan)."""

from draggan_fast.stylegan.networks import Generator, MappingNetwork, SynthesisNetwork

__all__ = ["Generator", "MappingNetwork", "SynthesisNetwork"]
