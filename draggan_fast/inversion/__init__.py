"""GAN inversion of real photos: W+ projection, then pivotal tuning (`invert`, `Inversion`).

preprocess: photo -> uint8 array at the generator's size; perceptual, vgg: offline perceptual
losses; projection, tuning: the two optimisation stages; inversion: the public entry point.
The package is `inversion`, not `invert`: importing a subpackage sets it as an attribute of its
parent, which would replace the public function `draggan_fast.invert` with a module.
"""

from draggan_fast.inversion.inversion import Inversion, invert
from draggan_fast.inversion.progress import InversionProgress

__all__ = ["Inversion", "InversionProgress", "invert"]
