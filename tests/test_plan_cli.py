"""`moekit plan`: scenario or flags in, a table or JSON with best, pareto, binding out."""

import argparse

from moekit.cli import add_deployment_arguments


def test_deployment_arguments_can_be_optional_for_commands_that_read_a_scenario():
    parser = argparse.ArgumentParser()
    add_deployment_arguments(parser, strategy=False, required=False)
    args = parser.parse_args([])
    assert args.model is None and args.batch is None


def test_deployment_arguments_stay_required_by_default():
    parser = argparse.ArgumentParser()
    add_deployment_arguments(parser, strategy=False)
    try:
        parser.parse_args([])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("--model and friends should be required")
