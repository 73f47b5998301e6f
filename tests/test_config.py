"""Settings: flags generated from the dataclasses, each algorithm's own section, config.json in
the current and the earlier flat format, and the errors that name the file, key or flag."""
import argparse
import dataclasses
import json
import re
from pathlib import Path

import pytest

from anime_colorize import config as config_lib
from anime_colorize.trainers import available_trainers



def parse(argv):
    parser = argparse.ArgumentParser()
    for title, cls in config_lib.SECTIONS.items():
        config_lib.add_arguments(parser, cls, title)
    config_lib.add_algorithm_arguments(parser)
    return vars(parser.parse_args(argv))


def test_flags_are_generated_from_the_dataclasses_and_only_given_ones_are_kept():
    given = parse(["--size", "32", "--no-flip", "--lambda-l1", "5", "--max-minutes", "1.5", "--norm", "group"])
    assert given == {"size": 32, "flip": False, "lambda_l1": 5.0, "max_minutes": 1.5, "norm": "group"}
    config = config_lib.apply_overrides(config_lib.RunConfig(), given)
    assert config.data.size == 32 and config.algorithm.lambda_l1 == 5.0 and config.model.norm == "group"
    assert config.data.batch_size == config_lib.DataConfig().batch_size
    with pytest.raises(SystemExit):
        parse(["--norm", "weird"])


def test_train_help_lists_every_flag_with_its_default_grouped_per_algorithm():
    from anime_colorize import train

    text = re.sub(r"\s+", " ", train.build_parser().format_help())
    classes = list(config_lib.SECTIONS.values()) + [config_lib.settings_class(a) for a in available_trainers()]
    for cls in classes:
        for f in dataclasses.fields(cls):
            default = config_lib.field_default(f)
            pattern = re.escape(config_lib.flag_name(f.name)) + r"[ =].*?\(default: " + re.escape(str(default)) + r"\)"
            assert re.search(pattern, text), f.name
    # one group per settings class, headed by the algorithms that take it
    assert "wgangp settings: The critic's schedule and penalty. --n-critic INT" in text
    assert "cyclegan settings:" in text and "pix2pixhd settings:" in text
    assert "settings of dcgan, pix2pix, pix2pix_gp, pix2pixhd, wgangp:" in text
    assert text.count("--lambda-l1 FLOAT weight") == 1  # a shared setting is listed once


def test_json_round_trip_holds_the_algorithm_section():
    config = config_lib.apply_overrides(config_lib.RunConfig(), {"data": "/x", "steps": 7, "algo": "pix2pixhd",
                                                                 "num_scales": 2})
    saved = json.loads(config_lib.to_json(config))
    assert set(saved) == {"train", "data", "model", "pix2pixhd"}
    assert saved["pix2pixhd"]["num_scales"] == 2 and "num_scales" not in saved["train"]
    assert config_lib.from_dict(saved) == config
    with pytest.raises(ValueError, match="unknown key 'train.bogus'"):
        config_lib.from_dict({"train": {"bogus": 1}})
    with pytest.raises(ValueError, match="unknown key 'wgangp.num_scales'"):
        config_lib.from_dict({"wgangp": {"num_scales": 2}})


def test_the_earlier_flat_format_maps_to_the_sections(old_format_config):
    config = config_lib.from_dict(old_format_config)
    assert config.train.algo == "wgangp" and config.data.size == 32 and config.model.filters == 8
    # the run's own algorithm keeps its values; the other algorithms' settings are dropped
    assert (config.algorithm.n_critic, config.algorithm.lambda_gp, config.algorithm.lambda_l1) == (3, 5.0, 50.0)
    assert not hasattr(config.algorithm, "pool_size")
    cyclegan = old_format_config
    cyclegan["train"]["algo"] = "cyclegan"
    cyclegan["data"]["data_a"], cyclegan["model"]["resnet_blocks"] = "/pages", 2
    settings = config_lib.from_dict(cyclegan).algorithm
    assert (settings.data_a, settings.resnet_blocks, settings.pool_size) == ("/pages", 2, 50)


def test_a_config_json_written_before_the_cheap_options_loads_the_original_architecture(old_format_config):
    cheap = {"z_entry": "decoder", "convs_per_level": 1, "full_resolution": "light", "discriminator_pooling": 2}
    config = config_lib.apply_overrides(config_lib.RunConfig(), {"algo": "wgangp", **cheap})
    saved = json.loads(config_lib.to_json(config))
    assert config_lib.from_dict(saved) == config  # written, they are read back
    for key in ("z_entry", "convs_per_level", "full_resolution"):
        del saved["model"][key]
    del saved["wgangp"]["discriminator_pooling"]
    original = ("input", 2, "conv", 1)
    for old in (config_lib.from_dict(saved), config_lib.from_dict(old_format_config)):
        m = old.model
        assert (m.z_entry, m.convs_per_level, m.full_resolution, old.algorithm.discriminator_pooling) == original
    with pytest.raises(ValueError, match="'model.convs_per_level' must be one of 1, 2, not 3"):
        config_lib.from_dict({"model": {"convs_per_level": 3}})
    assert parse(["--convs-per-level", "1", "--discriminator-pooling", "4"]) == {
        "convs_per_level": 1, "discriminator_pooling": 4}
    with pytest.raises(SystemExit):
        parse(["--discriminator-pooling", "3"])


def test_settings_of_another_algorithm_are_refused_with_their_owner():
    with pytest.raises(ValueError, match="--num-scales is a setting of --algo pix2pixhd, not of --algo dcgan"):
        config_lib.apply_overrides(config_lib.RunConfig(), {"algo": "dcgan", "num_scales": 2})
    with pytest.raises(ValueError, match="unknown settings: \\['bogus'\\]"):
        config_lib.apply_overrides(config_lib.RunConfig(), {"bogus": 1})
    with pytest.raises(ValueError, match="unknown algorithm 'gan9000'; known: " + ", ".join(available_trainers())):
        config_lib.apply_overrides(config_lib.RunConfig(), {"algo": "gan9000"})


def test_changing_the_algorithm_keeps_changed_shared_settings_only():
    wgangp = config_lib.apply_overrides(config_lib.RunConfig(), {"algo": "wgangp", "lambda_l1": 5.0, "n_critic": 4})
    dcgan = config_lib.apply_overrides(wgangp, {"algo": "dcgan"})
    assert dcgan.algorithm == config_lib.settings_class("dcgan")(lambda_l1=5.0)


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON"),
    ('["a list"]', "a configuration is a JSON object"),
    ('{"train": {"steps": "many"}}', "'train.steps' must be int, not \"many\""),
    ('{"model": {"norm": "weird"}}', "'model.norm' must be one of batch, instance, group, none"),
    ('{"data": {"sizes": 32}}', "unknown key 'data.sizes'"),
    ('{"train": {"algo": "dcgan"}, "dcgan": {"n_critic": 2}}', "unknown key 'dcgan.n_critic'"),
    ('{"extra": {}}', "unknown section 'extra'"),
])
def test_a_bad_config_file_names_itself_and_the_bad_key(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + re.escape(message)):
        config_lib.load(path)
    with pytest.raises(ValueError, match="cannot read the configuration .*missing.json"):
        config_lib.load(tmp_path / "missing.json")


def test_a_setting_cannot_have_two_homes():
    @dataclasses.dataclass(frozen=True)
    class Clash(config_lib.AlgorithmSettings):
        n_critic: int = config_lib.setting(1, "clashes with wgangp's")

    with pytest.raises(ValueError, match="'n_critic' .* already declared by WGANGPSettings"):
        config_lib.register_algorithm("clash", Clash)
    assert "clash" not in config_lib.algorithm_names()


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


def test_config_and_benchmark_name_no_algorithm():
    package = Path(config_lib.__file__).parent
    for name in ("config.py", "benchmark.py"):
        source = (package / name).read_text()
        named = [algo for algo in available_trainers() if re.search(rf"\b{algo}\b", source)]
        assert not named, f"{name} names {named}"
