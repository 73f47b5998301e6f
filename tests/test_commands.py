"""The ``anime-colorize`` command: one entry point for every tool."""
import pytest

from anime_colorize import commands


@pytest.mark.parametrize("name", list(commands.COMMANDS))
def test_every_subcommand_shows_its_own_help(name, capsys):
    assert commands.main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m anime_colorize.{name}")
    description = commands.summary(commands.COMMANDS[name])
    assert description and description in " ".join(out.split())


def test_the_overview_lists_every_command_with_its_description(capsys):
    assert commands.main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for name, module in commands.COMMANDS.items():
        assert f"{name} {commands.summary(module)}" in out


def test_an_unknown_or_missing_command_exits_2_naming_the_known_ones(capsys):
    assert commands.main(["colourise", "--model", "m"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'colourise'" in err
    assert all(f"'{name}'" in err for name in commands.COMMANDS)
    assert commands.main([]) == 2
    assert "required: COMMAND" in capsys.readouterr().err


def test_a_command_runs_with_its_arguments_and_exit_code(tmp_path, capsys):
    assert commands.main(["export", "--model", str(tmp_path / "missing"), "--format", "keras",
                          "--out", str(tmp_path / "x.keras")]) == 2
    assert "model not found" in capsys.readouterr().err
