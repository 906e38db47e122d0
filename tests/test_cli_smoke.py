from click.testing import CliRunner

from linkgan_plugin.cli import main


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ['--help'])
    assert result.exit_code == 0, result.output
    for name in ('demo', 'spec', 'bench', 'doctor', 'patch', 'smoke', 'eval', 'edit'):
        assert name in result.output
