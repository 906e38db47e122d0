"""Runs an upstream `train.py` with the shims of `cpu_compat` installed in this process only.

    python -m linkgan_plugin.upstream.cpu_run UPSTREAM_CODE_DIR/train.py [TRAIN_ARGS...]

The working directory and sys.path[0] become the directory of train.py (as with `python train.py`). Options for
the shims come from the environment (set by `linkgan smoke`):
  LINKGAN_CPU    '1' force the CPU shims, '0' disable them, unset: when torch sees no CUDA device.
  LINKGAN_SMOKE  JSON {"nimg": N, "tick_nimg": T, "grid": [W, H]}: stop after N images, a tick every T images,
                 a W x H snapshot grid.
  LINKGAN_FLUSH_DENORMAL  '0' keeps denormal floats on CPU (default: flushed to zero, so tiny values do not slow CPU math).
"""

import json
import os
import runpy
import sys

from linkgan_plugin.upstream import cpu_compat


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or not argv[0].endswith('.py'):
        print(__doc__, file=sys.stderr)
        return 2
    train_py = os.path.abspath(argv[0])
    code_dir = os.path.dirname(train_py)
    os.chdir(code_dir)
    sys.path[:] = [code_dir] + [p for p in sys.path if p not in ('', code_dir)]

    cpu_env = os.environ.get('LINKGAN_CPU', '')
    cpu = None if cpu_env == '' else cpu_env == '1'
    smoke = json.loads(os.environ['LINKGAN_SMOKE']) if os.environ.get('LINKGAN_SMOKE') else None
    cpu_compat.install(cpu=cpu, smoke=smoke)

    sys.argv = [train_py] + argv[1:]
    try:
        runpy.run_path(train_py, run_name='__main__')
    except SystemExit as e:
        if e.code is not None and not isinstance(e.code, int):
            print(e.code, file=sys.stderr, flush=True)     # As the interpreter does for sys.exit('message').
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
