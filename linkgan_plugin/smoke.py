"""`linkgan smoke`: a tiny real training run of a (patched) upstream train.py with LinkLoss, on the machine at hand.

Steps:
  1. Detect the upstream (sg2ada, sg3, eg3d) and check that `linkgan patch` has been applied.
  2. Make a tiny dataset unless --data is given (with 25-dim camera labels in dataset.json where the flavour's
     labels are cameras: eg3d) and a tiny link spec unless --spec is given.
  3. Run upstream train.py in a subprocess through `python -m linkgan_plugin.upstream.cpu_run`, which installs the
     modern-torch and (on a CPU-only machine) CPU shims in that process only; upstream files are never edited.
  4. Summarise: run directory, seconds per kimg, the `Loss/link/*` statistics from stats.jsonl, and the loss class
     recorded in training_options.json. With LinkLoss, fails unless some `Loss/link/*` statistic is non-zero.
"""

import json
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

try:
    import resource  # POSIX only: CPU time of the run, a fairer speed measure than wall time on a busy machine.
except ImportError:  # pragma: no cover
    resource = None
from typing import Dict, List, Optional

from linkgan_plugin import patching
from linkgan_plugin.checks import LinkganError, option_errors, SpecError
from linkgan_plugin.spec import load_spec
from linkgan_plugin.upstream.flavours import FLAVOUR_CLASSES

LINK_LOSS = 'linkgan_plugin.LinkLoss'
UPSTREAM_LOSS = 'training.loss.StyleGAN2Loss'

#----------------------------------------------------------------------------
# Defaults per upstream: small enough for a CPU run of about a minute or two.

SMOKE_DEFAULTS = {
    'sg2ada': dict(resolution=32, nimg=120, images=32, channel_base=4096, channel_max=128, args=[
        '--gpus=1', '--batch=4', '--snap=1', '--metrics=none', '--fp32=1', '--workers=1', '--aug=noaug', '--kimg=1']),
    'sg3': dict(resolution=32, nimg=120, images=32, args=[
        '--cfg=stylegan2', '--gpus=1', '--batch=4', '--gamma=0.5', '--snap=1', '--metrics=none', '--workers=1',
        '--kimg=1', '--tick=1', '--cbase=8192', '--cmax=256', '--mbstd-group=4']),
    'eg3d': dict(resolution=128, nimg=40, images=16, args=[
        '--cfg=ffhq', '--gpus=1', '--batch=4', '--gamma=1', '--snap=1', '--metrics=none', '--workers=1', '--kimg=1',
        '--tick=1', '--cbase=8192', '--cmax=128', '--neural_rendering_resolution_initial=32', '--density_reg=0.25']),
}
# sg3's stylegan3-t/-r are far slower and hungrier on CPU (at 32 px with --cmax=256, stylegan3-t + LinkLoss held
# ~12 GB and took minutes per iteration): fewer images, narrower networks.
SLOW_CFG_NIMG = {'stylegan3-t': 24, 'stylegan3-r': 16}
SLOW_CFG_ARGS = {'stylegan3-t': ['--cbase=2048', '--cmax=64'], 'stylegan3-r': ['--cbase=1024', '--cmax=32']}

# What upstream's train.py imports at start-up (itself, training_loop, metrics, dnnlib) beyond Python and torch,
# module -> pip package; the same for sg2ada, sg3 and eg3d. (pkg_resources and distutils are stood in for by
# upstream.cpu_compat.)
UPSTREAM_REQUIREMENTS = {'click': 'click', 'numpy': 'numpy', 'PIL': 'pillow', 'psutil': 'psutil',
                         'requests': 'requests', 'scipy': 'scipy'}

DEFAULT_SPEC = {
    'links': [
        {'name': 'eyes', 'axes': '0:64', 'region': {'preset': 'eyes'}},
        {'name': 'mouth', 'axes': '64:128', 'region': {'preset': 'mouth'}},
    ],
    'interval': 2,
}

#----------------------------------------------------------------------------
# Tiny datasets.

def _camera_label(yaw, pitch, radius=2.7, pivot=(0.0, 0.0, 0.2), focal=4.2647):
    """25 numbers: a 4x4 cam2world (camera looking at `pivot`, y up, OpenCV axes) then 3x3 normalised intrinsics."""
    import numpy as np
    theta, phi = math.pi / 2 + yaw, math.pi / 2 + pitch
    pivot = np.asarray(pivot, dtype=np.float64)
    origin = pivot + radius * np.array([math.sin(phi) * math.cos(math.pi - theta), math.cos(phi), math.sin(phi) * math.sin(math.pi - theta)])
    forward = pivot - origin
    forward /= np.linalg.norm(forward)
    right = -np.cross([0.0, 1.0, 0.0], forward)
    right /= np.linalg.norm(right)
    up = np.cross(forward, right)
    up /= np.linalg.norm(up)
    cam2world = np.eye(4)
    cam2world[:3, 0], cam2world[:3, 1], cam2world[:3, 2], cam2world[:3, 3] = right, up, forward, origin
    intrinsics = np.array([[focal, 0, 0.5], [0, focal, 0.5], [0, 0, 1]])
    return [float(v) for v in np.concatenate([cam2world.reshape(-1), intrinsics.reshape(-1)])]


def write_dataset(path: str, images, labels=None) -> str:
    """Writes an upstream dataset (the format of upstream's dataset_tool.py): PNGs named img00000.png, ... and, when
    `labels` is given (one list of numbers per image), a dataset.json {"labels": [[name, label], ...]}.

    Args:
        path:   a folder, or a file ending in .zip (written atomically: a partial zip never has the final name).
        images: iterable of uint8 arrays [H, W, 3].
        labels: None, or a sequence of label lists, one per image.
    Returns `path`.
    """
    import io
    import zipfile
    import PIL.Image
    as_zip = path.lower().endswith('.zip')
    if as_zip:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = path + '.partial'
        archive = zipfile.ZipFile(tmp, 'w', compression=zipfile.ZIP_STORED)
    else:
        os.makedirs(path, exist_ok=True)
    names = []
    for i, img in enumerate(images):
        fname = f'img{i:05d}.png'
        names.append(fname)
        if as_zip:
            buf = io.BytesIO()
            PIL.Image.fromarray(img, 'RGB').save(buf, format='png')
            archive.writestr(fname, buf.getvalue())
        else:
            PIL.Image.fromarray(img, 'RGB').save(os.path.join(path, fname))
    meta = json.dumps({'labels': [[n, list(l)] for n, l in zip(names, labels)]}) if labels is not None else None
    if as_zip:
        if meta is not None:
            archive.writestr('dataset.json', meta)
        archive.close()
        os.replace(tmp, path)
    elif meta is not None:
        with open(os.path.join(path, 'dataset.json'), 'w', encoding='utf-8') as f:
            f.write(meta)
    return path


def jittered_camera_labels(count: int, seed: int = 0) -> List[List[float]]:
    """`count` 25-dim EG3D camera labels (_camera_label), yaw and pitch jittered from a RandomState(seed)."""
    import numpy as np
    rnd = np.random.RandomState(seed)
    return [_camera_label(yaw=rnd.uniform(-0.3, 0.3), pitch=rnd.uniform(-0.15, 0.15)) for _ in range(count)]


def make_dataset(path: str, resolution: int, count: int, camera_labels: bool = False, seed: int = 0) -> str:
    """Writes `count` RGB PNGs (soft blobs on a gradient, a face-like layout) into the folder (or .zip) `path`, and
    with `camera_labels` (flavours whose labels are cameras: EG3D) a dataset.json with one 25-dim camera label per
    image. Returns `path`."""
    import numpy as np
    rnd = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:resolution, 0:resolution] / max(resolution - 1, 1)
    images, labels = [], []
    for _ in range(count):
        img = np.zeros([resolution, resolution, 3])
        base = rnd.uniform(0.2, 0.8, size=3)
        img += base * (0.6 + 0.4 * yy[..., None])
        for cx, cy, r in [(0.37, 0.47, 0.07), (0.63, 0.47, 0.07), (0.5, 0.72, 0.1), (0.5, 0.5, 0.3)]:
            cx, cy = cx + rnd.normal(0, 0.02), cy + rnd.normal(0, 0.02)
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r ** 2))
            img += blob[..., None] * rnd.uniform(-0.5, 0.5, size=3)
        images.append(np.uint8(np.clip(img, 0, 1) * 255))
        if camera_labels:
            labels.append(_camera_label(yaw=rnd.uniform(-0.3, 0.3), pitch=rnd.uniform(-0.15, 0.15)))
    return write_dataset(path, images, labels if camera_labels else None)

#----------------------------------------------------------------------------
# Arguments.

def _opt_name(arg: str) -> Optional[str]:
    if not arg.startswith('-'):
        return None
    return arg.split('=', 1)[0].lstrip('-').replace('_', '-')


def merge_args(defaults: List[str], user: List[str]) -> List[str]:
    """defaults + user, dropping each default whose option the user gives (either --a-b or --a_b spelling)."""
    given = {_opt_name(a) for a in user if _opt_name(a)}
    return [a for a in defaults if _opt_name(a) not in given] + list(user)


def arg_value(args: List[str], name: str) -> Optional[str]:
    """The value of --name in args (last one wins), accepting --name=value and --name value."""
    value = None
    for i, a in enumerate(args):
        if _opt_name(a) == name.replace('_', '-'):
            value = a.split('=', 1)[1] if '=' in a else (args[i + 1] if i + 1 < len(args) else None)
    return value


def plugin_root() -> str:
    """The directory holding the linkgan_plugin package (put on the run's PYTHONPATH)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#----------------------------------------------------------------------------
# Reading a run.

def read_stats(run_dir: str) -> List[Dict]:
    """The complete rows of a run directory's stats.jsonl ([] without one); a row cut short by an interruption (a line
    that does not parse, the file's last) is left out."""
    path = os.path.join(run_dir, 'stats.jsonl')
    if not os.path.isfile(path):
        return []
    rows = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    return rows


def link_stats(rows: List[Dict]) -> Dict[str, Dict[str, float]]:
    """Loss/link/* over the whole run: {name: {'n': total count, 'mean': count-weighted mean}}."""
    out = {}
    for row in rows:
        for key, val in row.items():
            if key.startswith('Loss/link/') and isinstance(val, dict) and val.get('num', 0) > 0:
                acc = out.setdefault(key, {'n': 0, 'sum': 0.0})
                acc['n'] += val['num']
                acc['sum'] += val['mean'] * val['num']
    return {k: {'n': v['n'], 'mean': v['sum'] / v['n']} for k, v in sorted(out.items())}


def sec_per_kimg(rows: List[Dict]) -> Optional[float]:
    """Seconds per kimg of the last tick (tick 0 holds start-up work, so it is skipped when there are more)."""
    vals = [r['Timing/sec_per_kimg']['mean'] for r in rows if isinstance(r.get('Timing/sec_per_kimg'), dict) and r['Timing/sec_per_kimg'].get('num')]
    if not vals:
        return None
    return vals[-1]


def summarize(run_dir: str) -> Dict:
    rows = read_stats(run_dir)
    opts = {}
    opts_path = os.path.join(run_dir, 'training_options.json')
    if os.path.isfile(opts_path):
        with open(opts_path, encoding='utf-8') as f:
            opts = json.load(f)
    snapshots = sorted(f for f in os.listdir(run_dir) if f.startswith('network-snapshot-') and f.endswith('.pkl')) if os.path.isdir(run_dir) else []
    return dict(run_dir=run_dir, ticks=len(rows), sec_per_kimg=sec_per_kimg(rows), link=link_stats(rows),
                loss_class=opts.get('loss_kwargs', {}).get('class_name'), snapshots=snapshots,
                loss_kwargs={k: v for k, v in opts.get('loss_kwargs', {}).items() if k != 'class_name'})


def format_summary(s: Dict, wall: Optional[float] = None) -> str:
    lines = ['', 'linkgan smoke summary', f'  run directory     {s["run_dir"]}', f'  loss class        {s["loss_class"]}']
    spk = s['sec_per_kimg']
    lines.append(f'  seconds per kimg  {spk:.1f} (last tick)' if spk is not None else '  seconds per kimg  (no tick recorded)')
    if wall is not None:
        lines.append(f'  wall time         {wall:.1f} s, {s["ticks"]} ticks, {len(s["snapshots"])} snapshots')
    if s.get('cpu_seconds') is not None:
        lines.append(f'  CPU time          {s["cpu_seconds"]:.1f} s for the whole run ({s.get("nimg")} images, start-up included)')
    if s['link']:
        lines.append('  Loss/link/* (count-weighted mean over the run, n = reports):')
        for k, v in s['link'].items():
            lines.append(f'    {k:<28} {v["mean"]:.6g}  (n={v["n"]})')
    else:
        lines.append('  Loss/link/*       none reported')
    return '\n'.join(lines)


def newest_run_dir(outdir: str, before: set) -> Optional[str]:
    if not os.path.isdir(outdir):
        return None
    new = [d for d in os.listdir(outdir) if os.path.isdir(os.path.join(outdir, d)) and d not in before and re.match(r'^\d+', d)]
    return os.path.join(outdir, sorted(new)[-1]) if new else None

#----------------------------------------------------------------------------
# The run.

def build_command(code_dir: str, train_args: List[str]) -> List[str]:
    """train.py through `python -m linkgan_plugin.upstream.cpu_run` (its shims, in that process only)."""
    return [sys.executable, '-m', 'linkgan_plugin.upstream.cpu_run', os.path.join(code_dir, 'train.py')] + list(train_args)


def train_env(smoke_opts: Optional[Dict] = None, cpu: Optional[bool] = None, threads: Optional[int] = None) -> Dict[str, str]:
    """The environment of a build_command process: this plugin on PYTHONPATH, the cpu_run options (LINKGAN_SMOKE:
    run length, tick, grid, channels; LINKGAN_CPU: force the CPU shims on or off, default: when there is no CUDA
    device) and OMP_NUM_THREADS."""
    env = dict(os.environ)
    env['PYTHONPATH'] = plugin_root() + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
    if smoke_opts:
        env['LINKGAN_SMOKE'] = json.dumps(smoke_opts)
    if cpu is not None:
        env['LINKGAN_CPU'] = '1' if cpu else '0'
    if threads:
        env['OMP_NUM_THREADS'] = str(threads)
    return env


def missing_requirements(cwd: Optional[str] = None, requirements: Optional[Dict[str, str]] = None) -> List[str]:
    """The modules of `requirements` (default UPSTREAM_REQUIREMENTS) that the Python which runs train.py
    (sys.executable, in `cwd`) cannot find; [] when that cannot be told (the run then reports for itself)."""
    modules = list(requirements or UPSTREAM_REQUIREMENTS)
    probe = 'import importlib.util, sys; print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))'
    try:
        out = subprocess.run([sys.executable, '-c', probe, *modules], cwd=cwd, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return []
    return out.stdout.split() if out.returncode == 0 else []


def check_requirements(cwd: Optional[str] = None, requirements: Optional[Dict[str, str]] = None):
    """Raises LinkganError naming the missing modules and the `pip install` that adds them."""
    requirements = requirements or UPSTREAM_REQUIREMENTS
    missing = missing_requirements(cwd, requirements)
    if missing:
        packages = ' '.join(requirements[m] for m in missing)
        raise LinkganError(
            f'upstream train.py needs Python modules that {sys.executable} cannot import: {", ".join(missing)}. '
            f'Install them with:\n  {shlex.quote(sys.executable)} -m pip install {packages}')


def checked_checkout(upstream_dir, spec, patch_dir=None):
    """The patched checkout's Detection, after checking requirements and the spec (before any work)."""
    try:
        det, patched = patching.is_loss_patched(upstream_dir, patch_dir=patch_dir)
    except patching.PatchError as e:
        raise LinkganError(str(e))
    if not patched:
        raise LinkganError(f'{det.code_dir}: train.py has no --loss option yet; run `linkgan patch {upstream_dir}` first')
    check_requirements(cwd=det.code_dir)          # Before any work: train.py would fail with an import traceback.
    if spec is not None:                          # Likewise: LinkLoss would reject a bad spec inside train.py.
        with option_errors('--spec', SpecError):
            load_spec(spec)
    return det


def _train_args(key, user, loss, spec, data, outdir, echo):
    """train.py's arguments: the smoke's defaults for this upstream, the user's arguments over them, a tiny dataset
    and a default spec when none are given."""
    defaults = SMOKE_DEFAULTS[key]
    work = os.path.join(outdir, '_smoke_inputs')
    os.makedirs(work, exist_ok=True)
    if data is None and arg_value(user, 'data') is None:
        res, cameras = defaults['resolution'], FLAVOUR_CLASSES[key].camera_labels
        data = make_dataset(os.path.join(work, f'data-{key}-{res}'), res, defaults['images'], camera_labels=cameras)
        echo(f'Made a tiny dataset: {data} ({defaults["images"]} images, {res}x{res}' + (', camera labels' if cameras else '') + ')')
    args = merge_args(defaults['args'], user)
    args = merge_args(args, [a for a in SLOW_CFG_ARGS.get(arg_value(args, 'cfg'), []) if arg_value(user, _opt_name(a)) is None])
    if data is not None:
        args = merge_args(args, [f'--data={os.path.abspath(data)}'])
    args = merge_args(args, [f'--outdir={outdir}'])
    if arg_value(user, 'loss') is None:
        args = merge_args(args, [f'--loss={loss}'])
    if arg_value(args, 'loss') == LINK_LOSS and arg_value(user, 'loss-kwargs') is None:
        if spec is None:
            spec = os.path.join(work, 'smoke_spec.json')
            with open(spec, 'w', encoding='utf-8') as f:
                json.dump(DEFAULT_SPEC, f, indent=2)
        args = merge_args(args, [f'--loss-kwargs=@{os.path.abspath(spec)}'])
    return args


def run_smoke(upstream_dir: str, loss: str = LINK_LOSS, spec: Optional[str] = None, data: Optional[str] = None,
              outdir: Optional[str] = None, nimg: Optional[int] = None, train_args=(), cpu: Optional[bool] = None,
              timeout: Optional[float] = None, grid=(4, 2), patch_dir: Optional[str] = None, threads: Optional[int] = None,
              echo=print) -> Dict:
    """Runs the smoke; returns the summary dict plus 'returncode', 'wall', 'command'. Raises LinkganError or OptionError (--spec) before anything runs."""
    det = checked_checkout(upstream_dir, spec, patch_dir)
    key = det.upstream.key
    defaults = SMOKE_DEFAULTS[key]
    outdir = os.path.abspath(outdir or tempfile.mkdtemp(prefix=f'linkgan-smoke-{key}-'))
    args = _train_args(key, list(train_args), loss, spec, data, outdir, echo)
    if nimg is None:
        nimg = SLOW_CFG_NIMG.get(arg_value(args, 'cfg'), defaults['nimg'])
    batch = int(arg_value(args, 'batch') or 4)
    nimg = max(nimg, 2 * batch)
    smoke_opts = dict(nimg=nimg, tick_nimg=max(nimg // 2, batch), grid=list(grid) if grid else None)
    for name in ('channel_base', 'channel_max'):
        if defaults.get(name):
            smoke_opts[name] = defaults[name]

    env = train_env(smoke_opts, cpu, threads)
    cmd = build_command(det.code_dir, args)
    echo(f'Detected {det.describe()}')
    echo(f'Running ({nimg} images, a tick every {smoke_opts["tick_nimg"]}):\n  cd {shlex.quote(det.code_dir)} && ' + ' '.join(shlex.quote(c) for c in cmd))
    before = set(os.listdir(outdir))
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN) if resource else None
    t0 = time.time()
    try:
        rc = subprocess.run(cmd, cwd=det.code_dir, env=env, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        rc = 124
    wall = time.time() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN) if resource else None
    cpu_s = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) if resource else None
    run_dir = newest_run_dir(outdir, before)
    summary = summarize(run_dir) if run_dir else dict(run_dir=None, ticks=0, sec_per_kimg=None, link={}, loss_class=None, snapshots=[], loss_kwargs={})
    summary.update(returncode=rc, wall=wall, cpu_seconds=cpu_s, command=cmd, upstream=key, nimg=nimg)
    return summary


#----------------------------------------------------------------------------
