"""`linkgan-research testbed`: can the testbed show the effect? The scene as its own oracle, per region: how much of
the region's variance is its own content (faces at 32 px against portraits at 64 px, demo/oracle.py).

Writes OUT/oracle.json (every measurement), OUT/portraits.png (samples; shared-only and part-only redraws of the
same portraits) and OUT/oracle.md (the tables; with OUT/step_cost.json from scripts/step_cost.py when present).

    linkgan-research testbed --samples 2048 --out examples/research/results/testbed
    linkgan-research testbed --page-only --out examples/research/results/testbed    # picture and page from the JSON
"""

import json
import os

import click
import torch
from PIL import Image, ImageDraw

from linkgan_plugin.demo import faces as faces_scene
from linkgan_plugin.demo import portraits as portraits_scene
from linkgan_plugin.demo.oracle import CROSSING_GROUPS, oracle_report
from linkgan_plugin.regions import preset_box

TARGETS = {'ratio': 3.0, 'tint_share_own': 0.2, 'box_height_px': 5.0}
RUNS = (('faces@32', faces_scene, faces_scene.faces, 32),
        ('portraits@64', portraits_scene, portraits_scene.portraits, 64))


def measure(samples):
    out = {'targets': TARGETS, 'crossing_groups': CROSSING_GROUPS}
    for name, module, draw, resolution in RUNS:
        boxes = {part: preset_box(part) for part in module.FACTOR_PARTS}
        for binary in (True, False):
            key = f'{name}/{"binary" if binary else "soft"}'
            click.echo(f'measuring {key}', err=True)
            out[key] = oracle_report(draw, module.SHARED_FACTORS, module.FACTOR_PARTS, boxes, resolution,
                                     samples=samples, batch=128, groups=CROSSING_GROUPS, binary=binary,
                                     per_factor=binary)
    return out

#----------------------------------------------------------------------------
# The picture.

def picture(path, columns=8, scale=3):
    """Rows: portraits; the same with the shared factors redrawn; with the eyes', nose's, mouth's factors redrawn."""
    module = portraits_scene
    base = module.portraits(columns, 64, torch.Generator().manual_seed(10))[2]
    new = module.portraits(columns, 64, torch.Generator().manual_seed(11))[2]
    rows = [('samples', module.portraits(columns, 64, torch.Generator().manual_seed(12))[0]), ('portraits', None)]
    sets = [('shared only', module.SHARED_FACTORS)] + [(f'{p} only', names) for p, names in module.FACTOR_PARTS.items()]
    draw = lambda redrawn: module.portraits(columns, 64, overrides={k: new[k] if k in redrawn else v
                                                                     for k, v in base.items()})[0]
    rows[1] = ('portraits', draw(()))
    rows += [(label, draw(names)) for label, names in sets]
    label_w, side = 110, 64 * scale
    canvas = Image.new('RGB', (label_w + columns * side, len(rows) * side), 'white')
    pen = ImageDraw.Draw(canvas)
    for r, (label, images) in enumerate(rows):
        pen.text((6, r * side + side // 2 - 6), label, fill='black')
        for c in range(columns):
            a = ((images[c].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
            canvas.paste(Image.fromarray(a).resize((side, side), Image.NEAREST), (label_w + c * side, r * side))
    canvas.save(path, optimize=True)

#----------------------------------------------------------------------------
# The page.

def region_table(report):
    lines = ['| region | box (px, h x w) | rows | shared / own | tint share (part edits) | shared share of all | '
             'skin / own | light / own | exposure / own | pose / own | other parts / own |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for region, e in report['regions'].items():
        g = e['groups']
        others = ', '.join(f'{k} {v:.3f}' for k, v in e['other_parts_over_own'].items())
        lines.append(f'| {region} | {e["box_height_px"]:.2f} x {e["box_width_px"]:.2f} | {e["box_rows"]} | '
                     f'**{e["ratio"]:.2f}** | **{e["tint_share_own"]:.3f}** '
                     f'(median {e["tint_share_own_median"]:.3f}) | '
                     f'{e["shared_of_all"]:.3f} | {g["skin"]["over_own"]:.2f} | {g["light"]["over_own"]:.2f} | '
                     f'{g["exposure"]["over_own"]:.2f} | {g["pose"]["over_own"]:.2f} | {others} |')
    ties = report['ties']['shared_mean_shift_correlation']
    lines.append('')
    lines.append('Correlation across samples of the boxes\' mean change under the shared redraw: ' +
                 ', '.join(f'{k} {v:.2f}' for k, v in ties.items()) + '.')
    return lines


def factor_table(report):
    lines = ['| region | part factors: in-box variance of each redrawn alone, over the region\'s own (all together) |',
             '|---|---|']
    for region, e in report['regions'].items():
        parts = sorted(e['factors_over_own'].items(), key=lambda kv: -kv[1])
        lines.append(f'| {region} | ' + ', '.join(f'{k} {v:.2f}' for k, v in parts) + ' |')
    return lines


def met(report):
    out = []
    for region, e in report['regions'].items():
        ok = (e['ratio'] <= TARGETS['ratio'] and e['tint_share_own'] <= TARGETS['tint_share_own']
              and e['box_height_px'] >= TARGETS['box_height_px'])
        out.append(f'{region} {"meets" if ok else "misses"}')
    return ', '.join(out)


def summary(result):
    old, new = result['faces@32/soft']['regions'], result['portraits@64/binary']['regions']
    rows = ['| region | faces@32 (soft, as Table 2 trained) | portraits@64 (binary) | box height (px) |',
            '|---|---|---|---|']
    for region in new:
        rows.append(f'| {region} | ratio {old[region]["ratio"]:.1f}, tint {old[region]["tint_share_own"]:.3f} | '
                    f'ratio {new[region]["ratio"]:.2f}, tint {new[region]["tint_share_own"]:.3f} | '
                    f'{old[region]["box_height_px"]:.2f} -> {new[region]["box_height_px"]:.2f} |')
    return ['## Summary', ''] + rows + ['']


def design():
    P, F = portraits_scene, faces_scene
    span = lambda m: m.SKIN_PALE[0] - m.SKIN_DARK[0]
    light, exposure = (P.FACTOR_RANGES[k] for k in ('light_strength', 'exposure'))
    old_light, old_exposure = (F.FACTOR_RANGES[k] for k in ('light_strength', 'exposure'))
    return ['## What the portraits change (portraits.py\'s docstring has the details)', '',
            '- 64 px: the eyes box is 5 px tall (20/256 of the side), the nose 10, the mouth 7.5.',
            f'- Narrower shared ranges: skin tone spans {span(P):.2f} (red channel; faces: {span(F):.2f}), light '
            f'strength <= {light[1]} ({old_light[1]}), exposure {exposure[0]}-{exposure[1]} '
            f'({old_exposure[0]}-{old_exposure[1]}), pose +-{P.FACTOR_RANGES["pose_x"][1] * 64:.2f} / '
            f'+-{P.FACTOR_RANGES["pose_y"][1] * 64:.2f} px.',
            '- Parts with their own content: eyes (iris colour and size, gaze, opening, width, lashes, a shadow '
            'under them), nose (length, width, tip size, depth of its shading, highlights, nostrils, flush), mouth '
            '(width, both lips\' thickness, smile, opening, teeth, gloss, a lipstick palette).',
            '- Each part is painted through its window (its preset box; the nose\'s without the eyes box that '
            'overlaps its top rows), so a part factor changes nothing outside that box, bit for bit. The brows sit '
            'above the eyes box (as in FFHQ\'s presets) and are not an eyes factor; hair, brows, background and '
            'clothes change no box pixel.',
            '- Still shared: skin, light, exposure and pose change every box (the group columns), and the boxes\' '
            'mean shifts stay correlated, so the regions are not independent cells.',
            '- Recommended spec (the portraits scene\'s built-in links, recipes/portraits_spec.json): one link per region, 8 of the toy\'s 64 axes each (1/8 of W), '
            'binary preset boxes.', '']


def page(result, step_cost):
    n = result['portraits@64/binary']['samples']
    lines = ['# The testbed\'s oracle: faces at 32 px against portraits at 64 px', '',
             f'Made by `linkgan-research testbed --samples {n} --out examples/research/results/testbed` '
             '(demo/oracle.py; every number below is in oracle.json).', '',
             'Per region, with the scene as its own oracle: the per-pixel variance inside the face-preset box when '
             'only the shared factors (skin, light, exposure, pose, face, hair, background, clothes) are redrawn, over '
             'that when only the region\'s own part factors are; the share of the part edits\' in-box change that is '
             'one uniform colour shift (metrics.tint_share, pooled); and what ties the regions (each crossing group\'s '
             'variance over the own, the correlation of the boxes\' mean shifts). Targets (issue 30): shared / own '
             '<= 3, tint share <= 0.2, every box >= 5 px tall, skin, light and pose still changing every box.', '',
             'Masks: binary (pixels whose centre lies in the box, the paper\'s) unless marked soft (covered fraction).',
             ''] + summary(result) + design()
    for name in ('faces@32', 'portraits@64'):
        for mask in ('binary', 'soft'):
            report = result[f'{name}/{mask}']
            lines += [f'## {name}, {mask} masks ({met(report)})', ''] + region_table(report) + ['']
            if mask == 'binary':
                lines += factor_table(report) + ['']
    lines += ['![portraits](portraits.png)', '',
              'Rows: samples; eight portraits; the same with only the shared factors redrawn; with only the eyes\', '
              'the nose\'s, the mouth\'s part factors redrawn (nothing outside that part\'s box changes).', '']
    if step_cost:
        lines += ['## Toy training step cost, 32 px against 64 px (one thread)', '',
                  'Made by `OMP_NUM_THREADS=1 python examples/research/scripts/step_cost.py --out '
                  'examples/research/results/testbed/step_cost.json`: '
                  'the demo\'s networks at each resolution, stepped in alternating rounds on pre-drawn batches; the '
                  'machine was busy (2 cores shared with two trainings; load average '
                  f'{step_cost["load_average_after"][0]:.1f}), '
                  'so the ratios are the figures to use.', '',
                  '| step | batch | s / kimg at 32 px | s / kimg at 64 px | 64 / 32 |', '|---|---|---|---|---|']
        for kind in ('baseline', 'link_finetune'):
            e = step_cost[kind]
            lines.append(f'| {kind} | {e["batch"]} | {e["seconds_per_kimg"]["32"]:.1f} | '
                         f'{e["seconds_per_kimg"]["64"]:.1f} | {e["ratio_64_over_32"]:.2f} |')
        data = step_cost['data_seconds_per_kimg']
        lines += ['', 'Drawing the data (s / kimg): ' + ', '.join(f'{k} {v:.2f}' for k, v in data.items()) + '.', '']
    return '\n'.join(lines)


@click.command(name='testbed')
@click.option('--out', type=click.Path(file_okay=False), required=True, help='Where oracle.json, .md and .png go.')
@click.option('--samples', type=click.IntRange(min=16), default=2048, show_default=True,
              help='Scenes drawn per measurement.')
@click.option('--page-only', is_flag=True, help='Redraw the picture and page from OUT/oracle.json.')
def testbed_command(out, samples, page_only):
    """The scene as an oracle: per face region, its shared over its own variance, tint share and box size
    (faces at 32 px against portraits at 64 px)."""
    torch.set_num_threads(1)
    os.makedirs(out, exist_ok=True)
    result_path = os.path.join(out, 'oracle.json')
    if page_only:
        if not os.path.isfile(result_path):
            raise click.UsageError(f'--page-only: {result_path} does not exist (run without --page-only first)')
        with open(result_path) as f:
            result = json.load(f)
    else:
        result = measure(samples)
        with open(result_path, 'w') as f:
            json.dump(result, f, indent=2)
    picture(os.path.join(out, 'portraits.png'))
    cost_path = os.path.join(out, 'step_cost.json')
    step_cost = None
    if os.path.isfile(cost_path):
        with open(cost_path) as f:
            step_cost = json.load(f)
    with open(os.path.join(out, 'oracle.md'), 'w') as f:
        f.write(page(result, step_cost))
