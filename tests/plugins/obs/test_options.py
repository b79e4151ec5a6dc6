"""The --obs-* options and the `obs` sink's registration, without OBS: errors come before anything
connects or loads (the model is never loaded here)."""

import pytest

import capture.sinks
import plugins.obs
from capture.cli import main


@pytest.fixture
def obs_registered(monkeypatch):
    """`--output obs` as `python -m v2v` has it (plugins.obs.register), only for the test."""
    monkeypatch.setattr(capture.sinks, "_REGISTERED", dict(capture.sinks._REGISTERED))
    plugins.obs.register()


def one_line(capsys, *argv):
    assert main(list(argv)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_obs_options_need_output_obs(capsys):
    assert "--obs-styles applies only to --output obs" in one_line(
        capsys, "--input", "pattern", "--output", "null", "--obs-styles", "s.toml"
    )
    assert "--obs-port applies only" in one_line(capsys, "--input", "pattern", "--output", "null", "--obs-port", "1")


def test_without_the_plugin_obs_says_so(capsys):
    assert "needs the OBS plugin" in one_line(capsys, "--input", "pattern", "--output", "obs")


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--obs-port", "99999"], "--obs-port must be 1 to 65535"),
        (["--obs-port", "x"], "--obs-port 'x' is not a whole number"),
        (["--obs-styles", "/nonexistent/styles.toml"], "--obs-styles /nonexistent/styles.toml does not exist"),
        (["--obs-host", "192.0.2.7"], "reaches OBS on this machine only"),
        (["--parent-pid", "0"], "--parent-pid must be at least 1"),
    ],
)
def test_bad_obs_options(obs_registered, capsys, argv, match):
    assert match in one_line(capsys, "--input", "pattern", "--output", "obs", *argv)


def test_registered_sinks_are_not_files(obs_registered):
    assert not capture.sinks.is_file_sink("obs")
