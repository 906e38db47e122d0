"""The command line's side of the project's errors: library functions raise `OptionError` (one bad option, named),
`UsageProblem` (options that do not go together) or another `LinkganError`, and warn with `LinkganWarning`; every
`linkgan` command is a `Command`, which turns the errors into the click error of the same meaning (exit code 2 for
the first two, 1 for the rest) and prints the warnings as 'warning: ...' on stderr, so no library module needs click
and no user sees a traceback for a problem they can mend.
"""

import warnings
from contextlib import contextmanager

import click

from linkgan_plugin.checks import LinkganError, LinkganWarning, option_errors, OptionError, UsageProblem

__all__ = ['Command', 'click_errors', 'option_errors']

#----------------------------------------------------------------------------

@contextmanager
def click_errors():
    """Re-raises the project's errors raised in the block as click errors:
    OptionError -> click.BadParameter on its option, UsageProblem -> click.UsageError, other LinkganError ->
    click.ClickException; anything else (a bug) passes through with its traceback."""
    try:
        yield
    except OptionError as e:
        raise click.BadParameter(e.message, param_hint=e.option) from None
    except UsageProblem as e:
        raise click.UsageError(str(e)) from None
    except LinkganError as e:
        raise click.ClickException(str(e)) from None


@contextmanager
def printed_warnings():
    """LinkganWarnings raised in the block are printed as 'warning: <message>' on stderr (each time); other
    warnings keep Python's handling."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, LinkganWarning):
            click.echo(f'warning: {message}', err=True)
        else:
            previous(message, category, filename, lineno, file, line)
    with warnings.catch_warnings():
        warnings.simplefilter('always', LinkganWarning)
        warnings.showwarning = show
        yield


class Command(click.Command):
    """A click command whose callback's project errors become click errors (`click_errors`) and whose LinkganWarnings
    are printed (`printed_warnings`); `-h` is `--help`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('context_settings', {}).setdefault('help_option_names', ['-h', '--help'])
        super().__init__(*args, **kwargs)

    def invoke(self, ctx):
        with click_errors(), printed_warnings():
            return super().invoke(ctx)

#----------------------------------------------------------------------------
