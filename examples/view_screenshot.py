"""Refreshes docs/images/view.png, the README's picture of `linkgan view`, with the browser test's own screenshot.

    pip install -e '.[view-test]'              # selenium; plus the system's chromium and chromedriver
    python examples/view_screenshot.py          # runs tests/test_view_browser.py with LINKGAN_VIEW_SCREENSHOT set
    python examples/view_screenshot.py --network linkgan-demo/linked.pt --network linkgan-demo/control.pt

The test loads the page for a linked network and its control, moves the top-left link's slider to its target and
takes the screenshot. Without --network the pair is the test's own (tests/toy_checkpoints.write_view_pair: analytic
generators of the demo's built-in spec at 32 px, written to pytest's tmp dir; the linked one perfectly linked by
construction, the control with cross-talk). With --network twice (linked first, then its control; the first, or
the control's checkpoint, must record the spec) it is that pair, handed to the test as LINKGAN_VIEW_NETWORKS.
The caption in docs/view.md describes the picture: update it to the pair shown.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'docs', 'images', 'view.png')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--network', action='append', default=[],
                        help='linked network, then its control (give both, or neither for the analytic pair)')
    args = parser.parse_args(argv)
    if len(args.network) not in (0, 2):
        parser.error(f'--network: give two files (linked, then control) or none, got {len(args.network)}')
    for path in args.network:
        if not os.path.isfile(path):
            parser.error(f'--network: file not found: {path}')
    return args


def main(argv=None):
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        shot = os.path.join(tmp, 'view.png')         # The test writes here: a skipped test leaves OUT as it was.
        env = dict(os.environ, LINKGAN_VIEW_SCREENSHOT=shot, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'))
        env.pop('LINKGAN_VIEW_NETWORKS', None)
        if args.network:
            env['LINKGAN_VIEW_NETWORKS'] = os.pathsep.join(os.path.abspath(p) for p in args.network)
        test = 'tests/test_view_browser.py::test_the_page_shows_both_networks_and_a_slider_moves_the_link'
        result = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rs', test],
                                cwd=ROOT, env=env)
        if result.returncode != 0 or not os.path.isfile(shot):
            sys.exit(f'no screenshot written (pytest exit code {result.returncode}; a skip means selenium or chromium '
                     'is missing)')
        os.makedirs(os.path.dirname(OUT), exist_ok=True)
        shutil.copyfile(shot, OUT)
    print(f'wrote {OUT}')


if __name__ == '__main__':
    main()
