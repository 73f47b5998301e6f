"""Models and a small factory: the trainers build everything through :func:`build_generator`."""
from anime_colorize.config import hint_kinds_for
from anime_colorize.models.discriminators import (DCGANDiscriminator, MultiScaleDiscriminator,
                                                  PatchGANDiscriminator, WGANCritic)
from anime_colorize.models.generator import UNetGenerator


def build_generator(model_config, working_size: int):
    """A :class:`UNetGenerator` from a :class:`~anime_colorize.config.ModelConfig`: with a
    ``regions`` input when the configuration uses regions, and for hint models with the dense
    hint fill when ``hint_fill`` says so."""
    return UNetGenerator(z_dim=model_config.z_dim, depth=model_config.depth,
                         filters=model_config.filters, norm=model_config.norm,
                         input_kind=model_config.input, working_size=working_size,
                         hint_kinds=hint_kinds_for(model_config.hints), region_pooling=model_config.uses_regions,
                         hint_fill=model_config.hint_fill, z_entry=model_config.z_entry,
                         convs_per_level=model_config.convs_per_level,
                         full_resolution=model_config.full_resolution, name="generator")


def takes_regions(model) -> bool:
    """Whether a generator (a Keras model with named inputs) has a ``regions`` input: region
    labels int32 (B, H, W) at its input size (see :mod:`anime_colorize.regions.network_labels`)."""
    inputs = getattr(model, "input", None)
    return isinstance(inputs, dict) and "regions" in inputs


__all__ = ["UNetGenerator", "DCGANDiscriminator", "WGANCritic", "PatchGANDiscriminator", "MultiScaleDiscriminator",
           "build_generator", "takes_regions"]
