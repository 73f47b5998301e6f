import argparse

import pytest

from anime_colorize import config as config_lib


def parse(argv):
    parser = argparse.ArgumentParser()
    for title, cls in config_lib.SECTIONS.items():
        config_lib.add_arguments(parser, cls, title)
    return vars(parser.parse_args(argv))


def test_flags_are_generated_from_the_dataclasses_and_only_given_ones_are_kept():
    given = parse(["--size", "32", "--no-flip", "--lambda-l1", "5", "--max-minutes", "1.5", "--norm", "group"])
    assert given == {"size": 32, "flip": False, "lambda_l1": 5.0, "max_minutes": 1.5, "norm": "group"}
    config = config_lib.apply_overrides(config_lib.RunConfig(), given)
    assert config.data.size == 32 and config.train.lambda_l1 == 5.0 and config.model.norm == "group"
    assert config.data.batch_size == config_lib.DataConfig().batch_size
    with pytest.raises(SystemExit):
        parse(["--norm", "weird"])


def test_json_round_trip():
    config = config_lib.apply_overrides(config_lib.RunConfig(), {"data": "/x", "steps": 7})
    import json

    assert config_lib.from_dict(json.loads(config_lib.to_json(config))) == config
    with pytest.raises(ValueError, match="unknown keys"):
        config_lib.from_dict({"train": {"bogus": 1}})


@pytest.mark.parametrize("overrides, flag", [
    ({"size": 40}, "--size 40 is not divisible by 2\\*\\*depth = 16; try --size 32 or --size 48"),
    ({"batch_size": 0}, "--batch-size"),
    ({"depth": 9}, "--depth"),
    ({"n_critic": 0}, "--n-critic"),
    ({"max_minutes": -1.0}, "--max-minutes"),
])
def test_validation_names_the_flag(overrides, flag):
    with pytest.raises(ValueError, match=flag):
        config_lib.validate(config_lib.apply_overrides(config_lib.RunConfig(), overrides))
