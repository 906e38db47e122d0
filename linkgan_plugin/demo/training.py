"""The demo's fine-tunes: a control (base loss only) and a LinkLoss run from one baseline, side by side.

Both fine-tunes start from copies of the same baseline G, D and G_ema and use the same recipe, length, batch, data
order (the scene stream's seed) and latents (the trainer's own latent stream): the only difference is the link
term (and what it feeds D). The control is the reference of every ratio the demo reports, so the effect of extra
training is never credited to LinkGAN.

With `scratch_kimg` set (`linkgan demo --from-scratch KIMG`, the study's from-scratch recipes) both runs instead
train fresh networks from the same initial weights, the link term acting from the first step.

`run_finetunes` runs them in two processes with one torch thread each (2 cores: about the time of one), each
evaluating its own G_ema afterwards, and shows one combined progress bar.
"""

import math
import multiprocessing
import os
import time

import torch

from linkgan_plugin.checks import LinkganError
from linkgan_plugin.demo.baseline import load_baseline_state
from linkgan_plugin.demo.scenes import scene_stream
from linkgan_plugin.demo.evaluation import evaluate_model, evaluation_work
from linkgan_plugin.demo.settings import LOSS_KWARGS, make_networks, TRAINER_KWARGS
from linkgan_plugin.progress import open_bar
from linkgan_plugin.spec import load_spec
from linkgan_plugin.toy.checkpoint import networks_from_checkpoint, save_checkpoint
from linkgan_plugin.toy.loop import build_loss, ToyTrainer

#----------------------------------------------------------------------------
# Lengths.

def kimg_to_steps(kimg, batch):
    return max(1, int(math.ceil(kimg * 1000 / batch)))


def run_length(settings):
    """(kimg, batch) of each of the two runs: a fine-tune (finetune_kimg at finetune_batch) or, with
    settings['scratch_kimg'] set, training from scratch (scratch_kimg at the baseline batch)."""
    if settings.get('scratch_kimg'):
        return settings['scratch_kimg'], settings['batch']
    return settings['finetune_kimg'], settings['finetune_batch']

#----------------------------------------------------------------------------
# One fine-tune.

def finetune(baseline, spec, settings, linked, progress=None, callback=None):
    """Fine-tunes copies of the baseline's networks with the base loss (linked=False: the control) or LinkLoss.

    With `settings['scratch_kimg']` set (the study's "from scratch" recipes) it trains fresh networks instead:
    `make_networks(settings)` (so `channels` may differ from the baseline's) at the baseline batch for scratch_kimg,
    with the link term from the first step; the baseline is then unused. Linked run and control still share the
    initial weights, data order and latents.

    Args:
        baseline:  baseline dict (demo_baseline format).
        spec:      LinkSpec (used when linked).
        settings:  the demo's settings (finetune_kimg, finetune_batch, resolution, cells, seed; scratch_kimg).
        progress:  optional callable(n) after every iteration.
        callback:  optional callable(trainer) after every iteration (to read `upstream.stats.latest` or evaluate
                   G_ema part way; it must not change the networks).
    Returns:
        the ToyTrainer (G, D, G_ema, cur_nimg).
    """
    torch.manual_seed(settings['seed'] + 1)
    kimg, batch = run_length(settings)
    if settings.get('scratch_kimg'):
        G, D = make_networks(settings)
        G_ema, start_kimg = None, 0.0
    else:
        G, D, G_ema = networks_from_checkpoint(baseline)
        start_kimg = baseline['kimg']
    loss = build_loss('sg2ada', G, D, spec=spec.to_dict() if linked else None, **LOSS_KWARGS)
    trainer = ToyTrainer('sg2ada', G, D, loss, batch=batch, latent_seed=settings['seed'] + 1, **TRAINER_KWARGS)
    if G_ema is not None:
        trainer.G_ema.load_state_dict(G_ema.state_dict())
    trainer.cur_nimg = int(round(start_kimg * 1000))
    stream = scene_stream(settings, batch, seed=settings['seed'] + 1)
    for _ in range(kimg_to_steps(kimg, batch)):
        trainer.step(*next(stream))
        if progress is not None:
            progress(1)
        if callback is not None:
            callback(trainer)
    return trainer

#----------------------------------------------------------------------------
# Two fine-tunes side by side.

def _worker(kind, baseline_path, spec_dict, settings, out_path, counter):
    """Process entry: fine-tune (kind 'control' or 'linked'), evaluate, save the networks, the evaluation and the
    timings to out_path (a toy checkpoint: toy.checkpoint)."""
    torch.set_num_threads(1)
    spec = load_spec(spec_dict)
    baseline = load_baseline_state(baseline_path)

    def tick(n):
        with counter.get_lock():
            counter.value += n
    start = time.perf_counter()
    trainer = finetune(baseline, spec, settings, linked=(kind == 'linked'), progress=tick)
    seconds = time.perf_counter() - start
    evaluation = evaluate_model(trainer.G_ema, spec, settings, progress=tick)
    save_checkpoint(out_path, trainer.G_ema, 'sg2ada', spec if kind == 'linked' else None, G=trainer.G, D=trainer.D,
                    role=kind, kimg=trainer.cur_nimg / 1000, evaluation=evaluation,
                    seconds={'finetune': seconds, 'evaluation': time.perf_counter() - start - seconds})


def run_finetunes(baseline_path, spec, settings, workdir, bar=None, parallel=True):
    """The control and the linked fine-tune (each then evaluated), in two processes when `parallel`, under one
    progress bar of the bar factory `bar` (linkgan_plugin.progress; None: none).

    Returns:
        {'control': result, 'linked': result}, result = {'G', 'D', 'G_ema', 'kimg', 'evaluation', 'seconds'}.
    """
    steps = kimg_to_steps(*run_length(settings))
    total = 2 * (steps + evaluation_work(settings))
    paths = {kind: os.path.join(workdir, f'.{kind}-run.pt') for kind in ('control', 'linked')}
    ctx = multiprocessing.get_context('spawn')
    counter = ctx.Value('l', 0)
    runs = 'from-scratch runs' if settings.get('scratch_kimg') else 'fine-tunes'
    label = f'{runs} (control | linked) + evaluation'
    with open_bar(bar, total, label) as bar:
        if parallel:
            procs = [ctx.Process(target=_worker, args=(kind, baseline_path, spec.to_dict(), settings, paths[kind], counter))
                     for kind in paths]
            for p in procs:
                p.start()
            seen = 0
            while any(p.is_alive() for p in procs):
                time.sleep(0.5)
                bar.update(counter.value - seen)
                seen = counter.value
            for p in procs:
                p.join()
            failed = [kind for kind, p in zip(paths, procs) if p.exitcode != 0]
            if failed:
                raise LinkganError(f'the {" and ".join(failed)} fine-tune failed (exit code '
                                   f'{[p.exitcode for p in procs]}); rerun with --serial to see its traceback')
            bar.update(total - seen)
        else:
            class _Counter:
                value = 0

                def get_lock(self):
                    import contextlib
                    return contextlib.nullcontext()
            for kind in paths:
                c = _Counter()
                _worker(kind, baseline_path, spec.to_dict(), settings, paths[kind], c)
                bar.update(c.value)
    results = {}
    for kind, path in paths.items():
        data = torch.load(path, map_location='cpu', weights_only=True)
        os.remove(path)
        G, D, G_ema = networks_from_checkpoint(data)
        results[kind] = {'G': G, 'D': D, 'G_ema': G_ema, 'kimg': data['kimg'], 'evaluation': data['evaluation'],
                         'seconds': data['seconds']}
    return results


#----------------------------------------------------------------------------
