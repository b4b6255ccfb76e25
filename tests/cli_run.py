"""Running the command line inside a test: the exit code of ``lstm ARGV`` and its one-line error."""

from lstm.cli import main


def run_cli(argv) -> int:
    """main(argv), with argparse's own usage errors (SystemExit) turned into their exit code."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def one_line(capsys) -> str:
    """What the command wrote to stderr, asserted to be one line and no traceback."""
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err
