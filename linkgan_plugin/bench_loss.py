"""`linkgan bench loss`: the training overhead of LinkLoss, measured side by side in one run.

Two ToyTrainers of the toy sg2ada flavour start from the same networks (the demo's sizes): one with the base loss
(ToySG2ADALoss), one with LinkLoss(base=ToySG2ADALoss) and the demo's two links at the library's DEFAULTS
(interval 8, half the batch in the link pass, perturbed fakes fed to D). They run in alternating blocks of
`interval` iterations, so every LinkLoss block holds exactly one link iteration and both see the same machine
load; the ratio is median(LinkLoss block) / median(base block), in wall time and in process CPU time (with one
thread, CPU time is not disturbed by other processes on a busy machine).

Where the extra time goes (per link iteration, from timers around LinkLoss's parts):
    renders      forward synthesis of the link pass: 1 + 2K images per sample (the paper's formula);
    masks+diff   region masks and the masked-difference op (forward);
    D on fakes   D scoring one perturbed image per sample, in the G pass (adversarial term) and in the D pass;
    backward     backward through the renders and D of the link pass, and the rest of the link pass.
Then the same ratio for 1, 2 and 4 links: the cost must grow like the renders, 1 + 2K per sample, and no faster.
"""

import contextlib
import copy
import statistics
import time

import click
import torch

#----------------------------------------------------------------------------

class _Timers:
    """Accumulates wall and process-CPU seconds per name while enabled."""

    def __init__(self):
        self.total = {}
        self.cpu = {}
        self.enabled = False
        self.in_d_pass = False
        self.in_link_pass = False

    def wrap(self, name, fn):
        def timed(*args, **kwargs):
            if not self.enabled:
                return fn(*args, **kwargs)
            t, c = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total[name] = self.total.get(name, 0.0) + time.perf_counter() - t
                self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c
        return timed


def _while_flagged(timers, flag, fn):
    """fn, with `timers.<flag>` set to True while it runs (so nested timers know which pass they are in)."""
    def flagged(*args, **kwargs):
        setattr(timers, flag, True)
        try:
            return fn(*args, **kwargs)
        finally:
            setattr(timers, flag, False)
    return flagged


@contextlib.contextmanager
def instrumented(loss, timers):
    """Patches timers around LinkLoss's parts (restored on exit). Nested names: 'link pass' contains the others."""
    import linkgan_plugin.loss as loss_mod
    import linkgan_plugin.regularizer as reg_mod
    saved = [(reg_mod, 'render_variants'), (reg_mod, 'masked_terms'), (reg_mod, 'semantic_link_masks'),
             (reg_mod, 'output_masks'), (loss_mod, 'link_penalty')]
    originals = [(mod, name, getattr(mod, name)) for mod, name in saved]
    reg_mod.render_variants = timers.wrap('renders', reg_mod.render_variants)
    reg_mod.masked_terms = timers.wrap('masks+diff', reg_mod.masked_terms)
    reg_mod.semantic_link_masks = timers.wrap('masks+diff', reg_mod.semantic_link_masks)
    reg_mod.output_masks = timers.wrap('masks+diff', reg_mod.output_masks)
    loss_mod.link_penalty = timers.wrap('penalty (forward)', loss_mod.link_penalty)
    inst = loss.__dict__
    flavour = loss.flavour
    orig_disc = flavour.discriminate
    link_pass = timers.wrap('link pass', loss._accumulate_link)
    orig_backward = torch.Tensor.backward
    timed_backward = timers.wrap('backward (G pass)', orig_backward)

    def backward(self, *args, **kwargs):
        return (timed_backward if timers.in_link_pass else orig_backward)(self, *args, **kwargs)
    torch.Tensor.backward = backward
    inst['_accumulate_link'] = _while_flagged(timers, 'in_link_pass', link_pass)
    d_pass = timers.wrap('D pass on fakes', loss._accumulate_fakes_for_D)
    d_fwd = {True: timers.wrap('D forward (D pass)', orig_disc), False: timers.wrap('D forward (G pass)', orig_disc)}
    inst['_accumulate_fakes_for_D'] = _while_flagged(timers, 'in_d_pass', d_pass)
    flavour.discriminate = lambda *a, **k: d_fwd[timers.in_d_pass](*a, **k)
    try:
        yield timers
    finally:
        for mod, name, fn in originals:
            setattr(mod, name, fn)
        torch.Tensor.backward = orig_backward
        del inst['_accumulate_link'], inst['_accumulate_fakes_for_D']
        del flavour.__dict__['discriminate']


def _bases():
    from linkgan_plugin import demo
    upstream_trainer = {**demo.TRAINER_KWARGS, 'G_reg_interval': 4, 'D_reg_interval': 16}
    return {'demo': (demo.LOSS_KWARGS, demo.TRAINER_KWARGS),
            'upstream': ({'style_mixing_prob': 0.9, 'pl_weight': 2, 'r1_gamma': 10}, upstream_trainer)}


class _LazyBases(dict):
    def __missing__(self, key):
        self.update(_bases())
        return dict.__getitem__(self, key)


BASES = _LazyBases()


def quadrant_spec(num_links, interval=8):
    """`num_links` (1..4) box links on the image quadrants, 16 axes each, the library's DEFAULTS otherwise."""
    boxes = [[0, 0, .5, .5], [.5, .5, 1, 1], [.5, 0, 1, .5], [0, .5, .5, 1]]
    names = ['top_left', 'bottom_right', 'top_right', 'bottom_left']
    return {'links': [{'name': names[i], 'axes': f'{16 * i}:{16 * i + 16}', 'region': {'box': boxes[i]}}
                      for i in range(num_links)], 'interval': interval}

#----------------------------------------------------------------------------

def measure(spec, blocks=8, warmup=1, settings=None, seed=0, base='demo'):
    """Times alternating blocks (one link iteration each) of the base loss and LinkLoss.

    base: 'demo' (the demo's base loss: no path-length reg, no style mixing, R1 every 16) or 'upstream' (the toy
    loss's StyleGAN2-ADA defaults: path-length reg every 4 iterations, style mixing 0.9, R1 gamma 10 every 16).
    Returns a dict: base/link wall and CPU seconds per block (lists), timers (seconds per link iteration),
    interval and number of links.
    """
    from linkgan_plugin import demo
    from linkgan_plugin.demo_data import SceneStream
    from linkgan_plugin.spec import load_spec
    from linkgan_plugin.toy.loop import ToyTrainer, build_loss
    settings = {**demo.DEMO_DEFAULTS, **(settings or {})}
    spec = load_spec(spec, w_dim=settings['w_dim'], resolution=settings['resolution'])
    torch.manual_seed(seed)
    G0, D0 = demo.make_networks(settings)
    loss_kwargs, trainer_kwargs = BASES[base]
    runs = {}
    for name, link_spec in (('base', None), ('link', spec.to_dict())):
        G, D = copy.deepcopy(G0), copy.deepcopy(D0)
        loss = build_loss('sg2ada', G, D, spec=link_spec, **loss_kwargs)
        trainer = ToyTrainer('sg2ada', G, D, loss, batch=settings['batch'], **trainer_kwargs)
        runs[name] = (trainer, SceneStream(settings['batch'], settings['resolution'], seed=seed))
    interval = spec.interval
    timers = _Timers()
    out = {'base': [], 'link': [], 'base_cpu': [], 'link_cpu': [], 'interval': interval,
           'links': len(spec.links), 'batch': settings['batch'], 'batch_shrink': spec.batch_shrink}
    with instrumented(runs['link'][0].loss, timers):
        for block in range(warmup + blocks):
            order = ('base', 'link') if block % 2 == 0 else ('link', 'base')
            for name in order:
                trainer, stream = runs[name]
                batches = [next(stream) for _ in range(interval)]
                timers.enabled = name == 'link' and block >= warmup
                t, c = time.perf_counter(), time.process_time()
                for real, labels in batches:
                    trainer.step(real, labels)
                wall, cpu = time.perf_counter() - t, time.process_time() - c
                timers.enabled = False
                if block >= warmup:
                    out[name].append(wall)
                    out[name + '_cpu'].append(cpu)
    out['timers'] = {k: v / blocks for k, v in timers.total.items()}
    out['timers_cpu'] = {k: v / blocks for k, v in timers.cpu.items()}
    return out


def _ratio(r, key=''):
    return statistics.median(r['link' + key]) / statistics.median(r['base' + key])

#----------------------------------------------------------------------------

@click.command(name='loss')
@click.option('--blocks', type=click.IntRange(min=1), default=8, show_default=True,
              help='Timed blocks of `interval` iterations per loss (after one warm-up block).')
@click.option('--batch', type=click.IntRange(min=2), default=None, help='Images per iteration (default: the demo\'s).')
@click.option('--threads', type=click.IntRange(min=0), default=1, show_default=True,
              help='torch threads (0: torch\'s default).')
@click.option('--base', 'bases', type=click.Choice(['demo', 'upstream']), multiple=True,
              help='Base loss settings to compare against (repeatable; default both): demo = no path-length reg, '
                   'no style mixing; upstream = StyleGAN2-ADA defaults (path-length reg every 4, mixing 0.9).')
@click.option('--scaling/--no-scaling', default=True, show_default=True, help='Also measure 1, 2 and 4 links.')
def bench_loss_command(blocks, batch, threads, bases, scaling):
    """Time training steps with the base loss and with LinkLoss, side by side."""
    if threads:
        torch.set_num_threads(threads)
    from linkgan_plugin import demo
    settings = {'batch': batch} if batch else {}
    spec = {'links': demo.BUILTIN_SPEC['links']}      # The demo's links, the library's DEFAULTS (interval 8).
    B = batch or demo.DEMO_DEFAULTS['batch']
    click.echo(f'toy sg2ada at the demo\'s sizes (batch {B}, {demo.DEMO_DEFAULTS["resolution"]}px, '
               f'{demo.DEMO_DEFAULTS["channels"]} channels), {torch.get_num_threads()} thread(s); alternating blocks '
               f'of `interval` iterations, {blocks} timed per loss; medians')
    for base in bases or ('demo', 'upstream'):
        r = measure(spec, blocks=blocks, settings=settings, base=base)
        it = r['interval']
        click.echo('')
        click.echo(f'[base = {base}] LinkLoss: {r["links"]} links, interval {it}, link pass on '
                   f'{max(1, B // r["batch_shrink"])} samples x {1 + 2 * r["links"]} renders, perturbed fakes to D')
        mb, ml = statistics.median(r['base']), statistics.median(r['link'])
        cb, cl = statistics.median(r['base_cpu']), statistics.median(r['link_cpu'])
        click.echo(f'  base loss  {mb / it * 1e3:8.1f} ms/iter wall  {cb / it * 1e3:8.1f} ms/iter cpu')
        click.echo(f'  LinkLoss   {ml / it * 1e3:8.1f} ms/iter wall  {cl / it * 1e3:8.1f} ms/iter cpu')
        click.echo(f'  ratio      {ml / mb:8.3f} wall            {cl / cb:8.3f} cpu      (target <= 1.25)')
        t, tc = r['timers'], r['timers_cpu']
        click.echo(f'  where the extra time goes, per link iteration (measured extra per block: {(ml - mb) * 1e3:.0f} ms wall, '
                   f'{(cl - cb) * 1e3:.0f} ms cpu):')
        click.echo(f'    {"":50s} {"wall ms":>8s} {"cpu ms":>8s}')
        parts = lambda t: [('synthesis renders, forward (1+2K per sample)', t.get('renders', 0)),
                 ('masks + masked diff, forward', t.get('masks+diff', 0)),
                 ('D forward on perturbed fakes (G and D pass)', t.get('D forward (G pass)', 0) + t.get('D forward (D pass)', 0)),
                 ('backward through renders and D (G pass)', t.get('backward (G pass)', 0)),
                 ('D pass on fakes except its forward (backward)', t.get('D pass on fakes', 0) - t.get('D forward (D pass)', 0)),
                 ('rest of penalty forward (offsets, sums)', t.get('penalty (forward)', 0) - t.get('renders', 0) - t.get('masks+diff', 0)),
                 ('rest of link pass (mapping, picking fakes)', t.get('link pass', 0) - t.get('penalty (forward)', 0)
                  - t.get('D forward (G pass)', 0) - t.get('backward (G pass)', 0))]
        for (name, sec), (_, sec_cpu) in zip(parts(t), parts(tc)):
            click.echo(f'    {name:50s} {sec * 1e3:8.1f} {sec_cpu * 1e3:8.1f}')
    if not scaling:
        return
    click.echo('')
    click.echo('scaling with the number of links (base = demo; quadrant boxes, 16 axes each, interval 8):')
    click.echo(f'  {"links":>5s} {"renders/sample":>14s} {"ratio wall":>10s} {"ratio cpu":>9s} {"link pass ms":>12s} '
               f'{"renders ms":>10s} {"link pass ms per render":>23s}')
    for k in (1, 2, 4):
        rk = measure(quadrant_spec(k), blocks=max(2, blocks // 2), settings=settings)
        tk = rk['timers']
        renders = 1 + 2 * k
        click.echo(f'  {k:5d} {renders:14d} {_ratio(rk):10.3f} {_ratio(rk, "_cpu"):9.3f} {tk.get("link pass", 0) * 1e3:12.1f} '
                   f'{tk.get("renders", 0) * 1e3:10.1f} {tk.get("link pass", 0) * 1e3 / renders:23.1f}')
    click.echo('  the link pass grows like 1 + 2K renders per sample plus a constant (mapping, one D pass): its cost per')
    click.echo('  render stays flat or falls as K grows; D sees one perturbed fake per sample whatever K.')


#----------------------------------------------------------------------------
