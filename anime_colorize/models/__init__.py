"""Models and a small factory: the trainers build everything through :func:`build_generator`."""
from anime_colorize.config import hint_kinds_for
from anime_colorize.models.discriminators import (DCGANDiscriminator, MultiScaleDiscriminator,
                                                  PatchGANDiscriminator, WGANCritic)
from anime_colorize.models.generator import UNetGenerator


def build_generator(model_config, working_size: int):
    """A :class:`UNetGenerator` from a :class:`~anime_colorize.config.ModelConfig`."""
    return UNetGenerator(z_dim=model_config.z_dim, depth=model_config.depth,
                         filters=model_config.filters, norm=model_config.norm,
                         input_kind=model_config.input, working_size=working_size,
                         hint_kinds=hint_kinds_for(model_config.hints), name="generator")


__all__ = ["UNetGenerator", "DCGANDiscriminator", "WGANCritic", "PatchGANDiscriminator", "MultiScaleDiscriminator",
           "build_generator"]
