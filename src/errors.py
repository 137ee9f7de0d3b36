"""One error type and one exit-code policy for every entry point (docs/cli.md).

Every error the project raises on purpose derives from :class:`SmartAssignError`; its message is
one line that names the file or option and says what to do. An entry point turns it into
``<prog>: error: <message>`` on stderr and returns the error's ``exit_code``:

* ``EXIT_OK`` (0): everything asked for was done;
* ``EXIT_FAILURE`` (1): the work started but did not all succeed (some images failed, the loss
  stayed non-finite, an exported model disagrees with its checkpoint);
* ``EXIT_USAGE`` (2): nothing was done because of the command line, a config, a data folder, a
  checkpoint or a model file.

The C++ program of ascend310_infer uses the same codes (``kExitFailure``/``kExitUsage``).
"""

import sys

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class SmartAssignError(Exception):
    """Base of the project's errors: a one-line message and the exit code an entry point returns."""

    exit_code = EXIT_USAGE


class UsageError(SmartAssignError, ValueError):
    """A bad option, config value, path or file: nothing was done (exit code 2)."""


class RunFailure(SmartAssignError, RuntimeError):
    """Work that started and failed part of the way (exit code 1)."""

    exit_code = EXIT_FAILURE


def one_line(exc):
    """The message of ``exc`` on one line (OSError: ``<file>: <reason>``)."""
    if isinstance(exc, OSError) and exc.filename and not isinstance(exc, SmartAssignError):
        text = f"{exc.filename}: {exc.strerror or exc}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def fail(prog, exc, code=None):
    """Print ``<prog>: error: <message>`` to stderr; return the exit code (the error's own by default)."""
    print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
    if code is not None:
        return code
    return getattr(exc, "exit_code", EXIT_USAGE)


def run_entry(prog, body, argv=None):
    """Run an entry point's ``body(argv)`` under the policy: its return value (None = 0), or the exit
    code of a :class:`SmartAssignError`; a missing or unreadable path the user gave (OSError) is a
    usage error. Other exceptions are bugs and keep their traceback. ``--verbose`` anywhere in
    ``argv`` (default ``sys.argv[1:]``) is taken out and shows MindSpore's startup messages (src/logs.py)."""
    from .logs import take_verbose

    argv = take_verbose(sys.argv[1:] if argv is None else argv)
    try:
        code = body(argv)
    except SmartAssignError as exc:
        return fail(prog, exc)
    except (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        return fail(prog, exc, EXIT_USAGE)
    return EXIT_OK if code is None else int(code)
