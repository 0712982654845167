import pytest

from xqg_lab.core.config import ConfigError, RunConfig, load_config


def test_demo_config_parses():
    config = load_config("configs/demo.yaml")
    assert config.run == "demo"
    assert config.notebooks[0].notebook == "retrieval_eval"
    assert len(config.notebooks[0].parameters["langs"]) == 12


def test_misspelled_key_is_refused_with_the_closest_suggestion():
    with pytest.raises(ConfigError, match=r"expected a known key, found 'notebok'; did you mean 'notebooks'\?"):
        RunConfig.parse({"run": "x", "notebok": []})
    with pytest.raises(ConfigError, match=r"notebooks\[0\]: expected a known key, found 'parameter'; did you mean 'parameters'"):
        RunConfig.parse({"run": "x", "notebooks": [{"notebook": "a", "parameter": {}}]})


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden"])
def test_run_name_must_stay_inside_the_reports_folder(name):
    with pytest.raises(ConfigError, match="plain folder name"):
        RunConfig.parse({"run": name, "notebooks": [{"notebook": "a"}]})


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("run: x\nnotebooks: [\n  - {notebook: a\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: invalid YAML"):
        load_config(path)


def test_mirror_is_resolved_relative_to_the_config_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("run: x\ndata: {mirror: data}\nnotebooks: [{notebook: a}]\n")
    assert load_config(path).mirror == str((tmp_path / "data").resolve())
