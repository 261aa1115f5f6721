"""The run's options are checked once, where they are made, and name the option at fault; every way in agrees."""

from __future__ import annotations

import pickle

import pytest

from app.__main__ import parse_arguments
from app.node.config import ConfigError, build_config
from app.run_options import DEFAULT_MODEL, OptionError, RunOptions, RunResult
from product.outcome import Outcome


@pytest.mark.parametrize(
    ("option", "value", "in_config"),
    [
        ("min_present", 4, "4"),
        ("min_present", 0, "0"),
        ("min_present", True, None),
        ("sampler_steps", 0, "0"),
        ("sampler_steps", 1001, "1001"),
        ("sop_class", "ct", "ct"),
        ("output_grid", "coronal", "coronal"),
        ("burn_label", "yes", "perhaps"),
        ("sampler", "ddim:ten", "ddim:ten"),
        ("sampler", "mean,onestep", "mean,onestep"),
        ("sampler", "onestep:shared", "onestep:shared"),
    ],
)
def test_a_bad_value_is_refused_naming_the_option_in_every_way_in(option, value, in_config):
    """`in_config`: the value as a YAML file or a SYNTH_NODE_OUTPUT__* variable would hold it."""
    with pytest.raises(OptionError) as raised:
        RunOptions(**{option: value})
    assert raised.value.option == option and str(raised.value).startswith(f"{option}: ")
    if in_config is not None:
        with pytest.raises(ConfigError, match=rf"^output\.{option}: "):
            build_config({"output": {option: in_config}})


@pytest.mark.parametrize(
    ("flag", "value"), [("--min-present", "4"), ("--sampler-steps", "0"), ("--sampler", "euler:4")]
)
def test_the_command_line_names_the_flag(flag, value, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        parse_arguments(["-i", str(tmp_path), "--dry-run", flag, value])
    assert raised.value.code == 2
    assert f"{flag} {value}" in capsys.readouterr().err


def test_the_defaults_and_the_model_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MONAI_MODELPATH", raising=False)
    monkeypatch.delenv("HOLOSCAN_MODEL_PATH", raising=False)
    options = RunOptions()
    assert (options.min_present, options.sop_class, options.output_grid) == (2, "sc", "reference")
    assert options.burn_label and not options.dry_run
    assert options.model_folder == DEFAULT_MODEL
    monkeypatch.setenv("HOLOSCAN_MODEL_PATH", str(tmp_path / "image-models"))
    (tmp_path / "image-models" / "msgldm-cpu").mkdir(parents=True)
    (tmp_path / "image-models" / "msgldm-cpu" / "model.yaml").write_text("name: x\n")
    assert RunOptions().model_folder == tmp_path / "image-models" / "msgldm-cpu", "the MAP layout models/<name>"
    assert RunOptions(model=tmp_path / "mine").model_folder == tmp_path / "mine", "the option wins"


def test_options_and_results_cross_a_process_boundary_as_data():
    """The node's worker sends the options to its child and gets the result back through a pipe (pickle)."""
    options = RunOptions(min_present=3, sop_class="mr", sampler_steps=4)
    assert pickle.loads(pickle.dumps(options)) == options
    result = RunResult(Outcome.SKIPPED, "nothing to synthesize")
    again = pickle.loads(pickle.dumps(result))
    assert again == result and again.outcome is Outcome.SKIPPED and again.exit_code == 0
