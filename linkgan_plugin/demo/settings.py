"""The demo's settings: the built-in specs and recipe, network and training sizes, the targets it reports
against, and the networks it trains. Shared by the demo command, its baseline, training and evaluation, and the
research tools, so none of them imports the command module."""

from linkgan_plugin.checks import SpecError
from linkgan_plugin.demo.scenes import REGISTRY
from linkgan_plugin.spec import load_spec
from linkgan_plugin.toy.networks import ToyDiscriminatorSG2ADA, make_toy_networks

#----------------------------------------------------------------------------
# Built-in spec and the demo's recipe.

DEMO_SPEC_DEFAULTS = {
    'alpha':        1.0,        # Same alpha for the regularizer and for both models' metrics.
    'interval':     8,          # The paper's lazy interval: seven cheap adversarial iterations between link steps
                                # keep the images diverse while the link term reshapes G.
    'lambda_in':    5.0,        # Measured (linked / baseline, seeds 0-3, 1024 samples, 16-kimg fine-tune): lambda 4
    'lambda_out':   5.0,        # -> leakage up to 0.25, edit_i from 0.53; 5 -> leakage up to 0.22, edit_i from 0.53;
                                # 6 with 12 kimg -> leakage up to 0.22, edit_i from 0.49.
    'batch_shrink': 2,          # The link pass renders half the batch: 1 + 2K renders per sample.
    'fake_to_D':    True,       # Perturbed renders are also scored by D, so the edits stay realistic.
}

# The built-in spec of each box scene: its links (demo/scenes.py) with the demo's recipe. The landscape scenes have
# none here: their spec names the segmenter the demo trains at run time (segmenter.landscape_spec).
BUILTIN_SPECS = {scene.name: {'links': scene.links, **DEMO_SPEC_DEFAULTS} for scene in REGISTRY.values()
                 if scene.links is not None}
BUILTIN_SPEC = BUILTIN_SPECS['cells']           # The cells': the top-left and bottom-right quadrants, 16 axes each.
FACES_SPEC = BUILTIN_SPECS['faces']             # The faces' eyes, nose and mouth presets, 16 axes each.

# Networks, training and evaluation sizes (the CLI's defaults).
DEMO_DEFAULTS = {
    'resolution':    32,
    'scene':         'cells',   # scenes.SCENES: 'cells', 'faces' or 'portraits' (boxes), 'landscape' or 'skies'.
    'cells':         2,         # Scene grid (demo_data.scenes): 2 x 2 independent quadrants.
    'w_dim':         64,
    'z_dim':         32,
    'channels':      32,
    'batch':         32,        # Baseline batch.
    'finetune_batch': 16,       # Fine-tune batch: more, smaller steps adapt faster in a short fine-tune.
    'baseline_kimg': 24.0,      # --baseline train only; the shipped baseline saw 160 kimg.
    'finetune_kimg': 16.0,
    'samples':       1024,
    'seed':          0,
    'threads':       1,
}

# Base loss kwargs (ToySG2ADALoss): path-length regularization (a double backward) and style mixing are off to fit
# the CPU budget; R1 stays on (gamma 1, lazily every 16 iterations; a light setting for a short run, not tuned).
LOSS_KWARGS = {'style_mixing_prob': 0.0, 'pl_weight': 0, 'r1_gamma': 1.0}
TRAINER_KWARGS = {'G_reg_interval': None, 'D_reg_interval': 16, 'lr': 0.0025, 'betas': (0.0, 0.99), 'ema_kimg': 0.5}

# Targets (issue "reach the paper's locality"): each is (metric, operator, bound, of), `of` 'control' for a ratio
# linked / control, None for an absolute value. The floor must hold for every link; the goal is the paper's range.
TARGETS = (
    ('locality', '<=', 0.15, None),         # Better than the paper's StyleSpace row (~0.17).
    ('mse_i', '<=', 0.25, 'control'),
    ('mse_o', '<=', 0.25, 'control'),
    ('edit_i', '>=', 0.5, 'control'),
    ('keep_o', '>=', 0.5, 'control'),
    ('quality', '<=', 1.5, 'control'),       # Sliced Wasserstein distance to real scenes.
)
GOALS = (('locality', '<=', 0.05, None), ('quality', '<=', 1.25, 'control'))
HEADLINE = ('mse_i', 'mse_o', 'edit_i', 'edit_o', 'keep_o', 'locality')

#----------------------------------------------------------------------------
# Spec.

def demo_spec(source=None, w_dim=None, resolution=None, semantic=False, scene='cells'):
    """The spec the demo uses: the built-in one of the box `scene` (BUILTIN_SPECS: the cells' two quadrants, the
    faces' eyes, nose and mouth), or `source` (file, inline JSON, dict or LinkSpec) with the demo's recipe
    (DEMO_SPEC_DEFAULTS) for the fields it leaves out, through the one spec loader. The box scenes have no segmenter
    classes: semantic regions are refused unless `semantic` (the landscape scenes, which have no built-in spec here:
    `source` is required)."""
    if source is None and scene not in BUILTIN_SPECS:
        raise ValueError(f'the {scene!r} scene has no built-in spec (built-in: {", ".join(BUILTIN_SPECS)}); '
                         'pass its spec as source')
    spec = load_spec(BUILTIN_SPECS[scene] if source is None else source, w_dim=w_dim, resolution=resolution,
                     defaults=DEMO_SPEC_DEFAULTS)
    fixed_only = [link.name for link in spec.links if not link.region.is_fixed]
    if fixed_only and not semantic:
        raise SpecError([f'links: the demo\'s box scenes (cells, faces, portraits) have no segmenter classes; use box or mask '
                         f'regions (semantic: {", ".join(fixed_only)})'])
    return spec


#----------------------------------------------------------------------------
# Networks.

def make_networks(settings):
    """(G, D) for a baseline trained from scratch: the toy sg2ada G, and its D with a per-position
    minibatch-stddev feature (toy.networks._DiscriminatorTrunk explains why the demo uses it)."""
    G, _ = make_toy_networks('sg2ada', z_dim=settings['z_dim'], w_dim=settings['w_dim'],
                             img_resolution=settings['resolution'], channels=settings['channels'])
    D = ToyDiscriminatorSG2ADA(c_dim=G.c_dim, img_resolution=G.img_resolution, img_channels=G.img_channels,
                               mbstd_per_location=True)
    return G, D
