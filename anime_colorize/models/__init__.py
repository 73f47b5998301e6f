"""Models and a small factory: the trainers build everything through :func:`build_generator`."""
from anime_colorize.models.discriminators import DCGANDiscriminator, WGANCritic
from anime_colorize.models.generator import UNetGenerator


def build_generator(model_config, working_size: int, input_kind: str = "gray", hint_kinds=()):
    """A :class:`UNetGenerator` from a :class:`~anime_colorize.config.ModelConfig`."""
    return UNetGenerator(z_dim=model_config.z_dim, depth=model_config.depth,
                         filters=model_config.filters, norm=model_config.norm,
                         input_kind=input_kind, working_size=working_size,
                         hint_kinds=tuple(hint_kinds), name="generator")


__all__ = ["UNetGenerator", "DCGANDiscriminator", "WGANCritic", "build_generator"]
