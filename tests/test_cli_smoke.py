from click.testing import CliRunner

from linkgan_plugin.cli import main


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ['--help'])
    assert result.exit_code == 0, result.output
    for name in ('demo', 'spec', 'bench', 'doctor', 'patch', 'smoke', 'eval', 'edit'):
        assert name in result.output


def test_python_dash_m_is_the_same_cli():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, '-m', 'linkgan_plugin', '--help'], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'spec' in out.stdout and 'demo' in out.stdout


def test_import_needs_no_upstream_checkout():
    # A fresh interpreter: tests that load upstream pickles in this process leave their checkout on sys.path.
    import subprocess
    import sys
    code = ('import importlib, linkgan_plugin\n'
            'assert linkgan_plugin.LinkLoss.__name__ == "LinkLoss"\n'
            'try:\n    importlib.import_module("training.loss")\nexcept ImportError:\n    print("no upstream")\n')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd='/')
    assert r.returncode == 0 and r.stdout.strip() == 'no upstream', (r.stdout, r.stderr)
