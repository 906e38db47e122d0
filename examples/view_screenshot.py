"""Refreshes docs/images/view.png, the README's picture of `linkgan view`, with the browser test's own screenshot.

    pip install -e '.[view-test]'              # selenium; plus the system's chromium and chromedriver
    python examples/view_screenshot.py          # runs tests/test_view_browser.py with LINKGAN_VIEW_SCREENSHOT set

The test loads the page for the study's seed-1 pair (docs/study_seeds/seed1/runs: linked from scratch, and its
control), moves the top-left link's slider to its target and takes the screenshot.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'docs', 'images', 'view.png')


def main():
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    env = dict(os.environ, LINKGAN_VIEW_SCREENSHOT=OUT, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'))
    test = 'tests/test_view_browser.py::test_the_page_shows_both_networks_and_a_slider_moves_the_link'
    result = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rs', test], cwd=ROOT, env=env)
    if result.returncode != 0 or not os.path.isfile(OUT):
        sys.exit(f'no screenshot written (pytest exit code {result.returncode}; a skip means selenium or chromium is missing)')
    print(f'wrote {OUT}')


if __name__ == '__main__':
    main()
