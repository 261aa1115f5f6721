"""Networks of MSG-LDM stages 0 (VQ autoencoder) and 1 (structure network).

Lin et al., "Multi-scale Structure-Guided Latent Diffusion for Multi-modal MRI Synthesis", arXiv 2603.12581 (2026).
"""

from models.networks.autoencoder import VQAutoencoder
from models.networks.fusion import MultiModalStructureFusion
from models.networks.hfib import HighFrequencyInjectionBlock, LearnableGaussianBlur
from models.networks.msse import MultiScaleStructureEnhancement
from models.networks.quantizer import CodebookQuantizer
from models.networks.segmentation_decoder import SegmentationDecoder
from models.networks.structure_encoder import StructureEncoder
from models.networks.structure_network import StructureNetwork, StructureOutput
from models.networks.style import AdaINDecoder, StyleEncoder

__all__ = [
    "AdaINDecoder",
    "CodebookQuantizer",
    "HighFrequencyInjectionBlock",
    "LearnableGaussianBlur",
    "MultiModalStructureFusion",
    "MultiScaleStructureEnhancement",
    "SegmentationDecoder",
    "StructureEncoder",
    "StructureNetwork",
    "StructureOutput",
    "StyleEncoder",
    "VQAutoencoder",
]
