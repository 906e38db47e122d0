"""Toy training step cost at 32 px (faces) against 64 px (portraits), measured side by side on one thread.

For each resolution: the demo's networks (settings.make_networks: the toy sg2ada G and D, 32 channels at every
resolution; 64 px adds one synthesis block and one D block), the baseline's recipe (LOSS_KWARGS, TRAINER_KWARGS,
batch 32) and a LinkLoss fine-tune step (batch 16) with the recommended spec of the scene (one link per region,
8 of the 64 axes each, binary preset boxes). The two resolutions' steps alternate in rounds of 16 (one R1 step per
16), so both see the same machine load; data are drawn beforehand and timed apart.

    OMP_NUM_THREADS=1 python examples/research/scripts/step_cost.py --rounds 3 \
        --out examples/research/results/testbed/step_cost.json     # then `linkgan-research testbed --page-only`
"""

import argparse
import json
import os
import time

import torch

from linkgan_plugin.demo.faces import faces
from linkgan_plugin.demo.portraits import portraits
from linkgan_plugin.demo.settings import DEMO_DEFAULTS, DEMO_SPEC_DEFAULTS, LOSS_KWARGS, make_networks, TRAINER_KWARGS
from linkgan_plugin.spec import load_spec
from linkgan_plugin.toy.loop import build_loss, ToyTrainer

SCENES = {32: ('faces', faces), 64: ('portraits', portraits)}
# One link per region, 1/8 of W (8 of 64 axes) each, binary boxes: the recommended spec of both face scenes.
LINK_SPEC = {'links': [{'name': n, 'axes': f'{8 * i}:{8 * i + 8}', 'region': {'preset': n, 'binary': True}}
                       for i, n in enumerate(('eyes', 'nose', 'mouth'))], **DEMO_SPEC_DEFAULTS}


def trainer_for(resolution, linked, batch):
    settings = {**DEMO_DEFAULTS, 'resolution': resolution}
    torch.manual_seed(0)
    G, D = make_networks(settings)
    spec = load_spec(LINK_SPEC, w_dim=settings['w_dim'], resolution=resolution).to_dict() if linked else None
    loss = build_loss('sg2ada', G, D, spec=spec, **LOSS_KWARGS)
    return ToyTrainer('sg2ada', G, D, loss, batch=batch, latent_seed=1, **TRAINER_KWARGS)


def data_seconds_per_kimg(draw, resolution, batch=32, repeats=8):
    g = torch.Generator().manual_seed(0)
    draw(batch, resolution, g)
    start = time.perf_counter()
    for _ in range(repeats):
        draw(batch, resolution, g)
    return (time.perf_counter() - start) / (repeats * batch) * 1000


def measure(rounds, steps=16):
    out = {}
    for kind, linked, batch in (('baseline', False, 32), ('link_finetune', True, 16)):
        trainers = {R: trainer_for(R, linked, batch) for R in SCENES}
        images = {R: SCENES[R][1](batch, R, torch.Generator().manual_seed(1))[0] for R in SCENES}
        labels = torch.zeros([batch, 0])
        for R, t in trainers.items():                         # Warm-up (one-time allocations).
            t.step(images[R], labels)
        seconds = {R: [] for R in SCENES}
        for _ in range(rounds):
            for R, t in trainers.items():
                start = time.perf_counter()
                for _ in range(steps):
                    t.step(images[R], labels)
                seconds[R].append((time.perf_counter() - start) / (steps * batch) * 1000)
        out[kind] = {'batch': batch, 'seconds_per_kimg': {str(R): sorted(v)[len(v) // 2] for R, v in seconds.items()},
                     'rounds': {str(R): v for R, v in seconds.items()}}
        out[kind]['ratio_64_over_32'] = out[kind]['seconds_per_kimg']['64'] / out[kind]['seconds_per_kimg']['32']
    out['data_seconds_per_kimg'] = {f'{SCENES[R][0]}@{R}': data_seconds_per_kimg(SCENES[R][1], R) for R in SCENES}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--out', required=True, help='The JSON to write (the testbed page reads OUT_DIR/step_cost.json).')
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = measure(args.rounds)
    result.update({'threads': 1, 'load_average_after': os.getloadavg(), 'cpus': os.cpu_count()})
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
