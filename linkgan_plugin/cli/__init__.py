"""The `linkgan` command line: a click group of thin commands, one module each in this folder (the only place
click is imported); each calls the library and lets `errors.Command` turn the project's errors into click's.

Sub-commands are imported lazily, so `linkgan --help` and `linkgan spec check` start without building or
importing anything heavy, and a broken optional part (say, the kernel build) never takes the whole CLI down.
"""

import importlib

import click

#----------------------------------------------------------------------------
# Command registry: name -> 'module:attribute' of a click command or group.

COMMANDS = {
    'demo':       'linkgan_plugin.cli.demo:demo_command',
    'scenes':     'linkgan_plugin.cli.scenes:scenes_command',
    'spec':       'linkgan_plugin.cli.spec:spec_group',
    'patch':      'linkgan_plugin.cli.patch:patch_command',
    'smoke':      'linkgan_plugin.cli.smoke:smoke_command',
    'doctor':     'linkgan_plugin.cli.doctor:doctor_command',
    'bench':      'linkgan_plugin.cli:bench_group',
    'eval':       'linkgan_plugin.cli.eval:eval_command',
    'edit':       'linkgan_plugin.cli.edit:edit_command',
    'project':    'linkgan_plugin.cli.project:project_command',
    'directions': 'linkgan_plugin.cli.directions:directions_command',
    'compare':    'linkgan_plugin.cli.compare:compare_command',
    'pair':       'linkgan_plugin.cli.pair:pair_command',
    'view':       'linkgan_plugin.cli.view:view_command',
}

BENCH_COMMANDS = {
    'loss':   'linkgan_plugin.cli.bench_loss:bench_loss_command',
    'kernel': 'linkgan_plugin.cli.bench_kernel:bench_kernel_command',
}

#----------------------------------------------------------------------------

class LazyGroup(click.Group):
    """A click group that imports each sub-command only when it is listed or invoked."""

    def __init__(self, *args, lazy_commands=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx, name):
        if name in self.lazy_commands:
            return _load_command(name, self.lazy_commands[name])
        return super().get_command(ctx, name)


def _load_command(name, target):
    module_name, attr = target.split(':')
    try:
        return getattr(importlib.import_module(module_name), attr)
    except Exception as e:  # Keep the rest of the CLI usable; say what is broken when it is used.
        message = f'`linkgan {name}` is unavailable: {type(e).__name__}: {e}'

        @click.command(name=name, help=f'(unavailable: {type(e).__name__})', context_settings={'ignore_unknown_options': True})
        @click.argument('args', nargs=-1, type=click.UNPROCESSED)
        def unavailable(args):
            raise click.ClickException(message)
        return unavailable

#----------------------------------------------------------------------------

@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={'help_option_names': ['-h', '--help']})
@click.version_option(package_name='linkgan-plugin')
def main():
    """LinkGAN: link latent axes of StyleGAN's W space to chosen image regions.

    Start with `linkgan demo`; use `linkgan patch` to add `--loss` to an upstream checkout.
    """


@click.group(cls=LazyGroup, lazy_commands=BENCH_COMMANDS)
def bench_group():
    """Benchmarks that print side-by-side ratios measured in one run."""

#----------------------------------------------------------------------------
