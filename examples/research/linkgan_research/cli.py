"""`linkgan-research`: the lab's experiments, one sub-command each (imported when listed or run)."""

import click

from linkgan_plugin.cli import LazyGroup

#----------------------------------------------------------------------------

EXPERIMENTS = {
    'study':            'linkgan_research.study:study_command',
    'study-seeds':      'linkgan_research.seeds:study_seeds_command',
    'table2':           'linkgan_research.table2:table2_command',
    'eg3d-linkage':     'linkgan_research.eg3d_linkage:eg3d_linkage_command',
    'project-study':    'linkgan_research.inversion_study:project_study_command',
    'testbed':          'linkgan_research.testbed:testbed_command',
    'calibrate':        'linkgan_research.calibration:calibrate_command',
    'lambda-sweep':     'linkgan_research.sweep:lambda_sweep_command',
    'finetune-curve':   'linkgan_research.finetune_curve:finetune_curve_command',
    'convergence':      'linkgan_research.convergence:convergence_command',
    'layer-leakage':    'linkgan_research.layer_leakage:layer_leakage_command',
    'pair-seeds':       'linkgan_research.pair_seeds:pair_seeds_command',
    'side-by-side':     'linkgan_research.side_by_side:side_by_side_command',
    'pair-curve':       'linkgan_research.pair_curve:pair_curve_command',
    'baseline':         'linkgan_research.assets:baseline_command',
    'factor-regressor': 'linkgan_research.assets:factor_regressor_command',
}


@click.group(cls=LazyGroup, lazy_commands=EXPERIMENTS, context_settings={'help_option_names': ['-h', '--help']})
def main():
    """linkgan-plugin's lab: the experiments behind its reports (examples/research/results/), and the rebuilders
    of the shipped assets. Each report names the command that regenerates it."""

#----------------------------------------------------------------------------
