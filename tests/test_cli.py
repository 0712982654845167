"""The ``xqg-lab`` entry point dispatches every sub-command its help text lists."""

import re

import pytest

from xqg_lab.runner import cli


@pytest.mark.parametrize("command", sorted(set(re.findall(r"^\s+xqg-lab ([\w-]+)", cli.__doc__, re.M))))
def test_every_documented_command_has_a_parser(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"xqg-lab {command}" in capsys.readouterr().out


def test_unknown_command_prints_the_usage_and_fails(capsys):
    assert cli.main(["trian"]) == 2
    assert "xqg-lab train" in capsys.readouterr().err
