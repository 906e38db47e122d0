"""Command-line parts shared by the commands that work on a trained network (`eval`, `edit`, `directions`,
`compare`, `project`, ...): the option decorators they have in common, the seed-list type and the progress bar.
Loading what the options name, with errors that name the option, is the library's job (`analysis/inputs.py`).

Every option decorator is a factory: `@network_option()` gives the shared option; arguments replace its parameter
declarations and keyword arguments override its settings, e.g. `@network_option('--network', 'networks',
multiple=True)` or `@seeds_option(help='... Default: 0-3.')`. `@network_options()` applies --network, --upstream
and --spec in that order.
"""

import sys

import click

from linkgan_plugin.analysis.network_loading import UPSTREAM_ENV

#----------------------------------------------------------------------------
# Parameter types.

class SeedList(click.ParamType):
    """'0,3,5-7' -> [0, 3, 5, 6, 7]: ASCII digits, seeds in [0, 2^32), at most MAX_SEEDS of them (ranges are
    counted before they are expanded)."""
    name = 'seeds'
    MAX_SEEDS = 1000

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        ranges = []
        for part in str(value).split(','):
            part = part.strip()
            if not part:
                continue
            shown = repr(part if len(part) <= 40 else part[:40] + '...')
            bounds = part.split('-')
            if len(bounds) > 2 or not all(b.isascii() and b.isdigit() for b in bounds):
                self.fail(f'{shown}: expected seeds like "0,3,5-7" (digits 0-9, no signs)', param, ctx)
            if any(len(b) > 10 or int(b) >= 2 ** 32 for b in bounds):
                self.fail(f'{shown}: seeds must lie in [0, 2^32)', param, ctx)
            a, b = int(bounds[0]), int(bounds[-1])
            if b < a:
                self.fail(f'{shown}: the range runs backwards; expected seeds like "0,3,5-7"', param, ctx)
            ranges.append((a, b))
        count = sum(b - a + 1 for a, b in ranges)
        if not 1 <= count <= self.MAX_SEEDS:
            self.fail(f'{count} seeds given: need 1 to {self.MAX_SEEDS}', param, ctx)
        return [seed for a, b in ranges for seed in range(a, b + 1)]

#----------------------------------------------------------------------------
# Option decorators.

def _shared_option(decls, **settings):
    """A factory of click options with these declarations and settings (see the module docstring)."""
    def option(*param_decls, **overrides):
        return click.option(*(param_decls or decls), **{**settings, **overrides})
    option.__doc__ = f'click.option {" ".join(decls)} shared by the network commands; arguments override it.'
    return option


network_option = _shared_option(
    ('--network',), required=True, type=click.Path(dir_okay=False),
    help='Upstream network-snapshot-*.pkl (its G_ema) or a linkgan demo checkpoint.')
upstream_option = _shared_option(
    ('--upstream',), type=click.Path(file_okay=False), envvar=UPSTREAM_ENV, show_envvar=True,
    help='Upstream checkout whose dnnlib/torch_utils unpickle snapshot pickles.')
spec_option = _shared_option(
    ('--spec',), type=str, default=None,
    help='Link spec (file or inline JSON). Default: the checkpoint\'s, else training_options.json beside it.')
device_option = _shared_option(
    ('--device',), type=str, default='auto', show_default=True, help='auto, cpu, cuda or cuda:N.')
truncation_option = _shared_option(
    ('--truncation',), type=click.FloatRange(min=0.0), default=1.0, show_default=True,
    help='Truncation psi of the mapping.')
seeds_option = _shared_option(
    ('--seeds',), type=SeedList(), default=None, help=f'Seeds, e.g. "0,3,5-7" (1 to {SeedList.MAX_SEEDS}).')


def network_options():
    """--network, --upstream and --spec, listed in that order."""
    def decorate(f):
        for option in (spec_option(), upstream_option(), network_option()):   # click lists the last applied first.
            f = option(f)
        return f
    return decorate

#----------------------------------------------------------------------------
# Progress.

def progress_bar(length, label):
    """A click progress bar on stderr (stdout stays clean for the table): the command line's bar factory
    (linkgan_plugin.progress)."""
    return click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True)

#----------------------------------------------------------------------------
