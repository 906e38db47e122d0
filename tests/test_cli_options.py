"""linkgan_plugin.cli.options (one definition of the options the network commands share) and analysis.inputs (what
they name, loaded with errors naming the option)."""

import click
import pytest
from click.testing import CliRunner

from linkgan_plugin.analysis import inputs
from linkgan_plugin.checks import LinkganError, OptionError
from linkgan_plugin.cli import edit, eval as eval_cli, main
from linkgan_plugin.cli import options as cli_options

SHARED = {'network': cli_options.network_option, 'upstream': cli_options.upstream_option,
          'spec': cli_options.spec_option, 'device': cli_options.device_option,
          'truncation': cli_options.truncation_option, 'seeds': cli_options.seeds_option}

#----------------------------------------------------------------------------

def _param(factory):
    """The click Option a shared decorator factory makes, with its defaults."""
    return factory()(lambda **kw: None).__click_params__[0]


@pytest.mark.parametrize('command', [eval_cli.eval_command, edit.edit_command], ids=['eval', 'edit'])
def test_commands_take_the_shared_options(command):
    params = {p.name: p for p in command.params}
    for name, factory in SHARED.items():
        if name not in params:
            assert command.name == 'eval' and name == 'seeds'      # eval draws latents from --seed.
            continue
        shared, own = _param(factory), params[name]
        assert own.opts == shared.opts and type(own.type) is type(shared.type)
        assert own.required == shared.required and own.envvar == shared.envvar
        assert own.default == shared.default, name
        if name != 'seeds':                                          # edit names its own default seeds.
            assert own.help == shared.help, name
    assert [p.name for p in command.params][:3] == ['network', 'upstream', 'spec']


def test_overrides_replace_declarations_and_settings():
    @click.command()
    @cli_options.network_option('--network', 'networks', multiple=True)
    @cli_options.seeds_option(help='Which seeds.')
    def cmd(networks, seeds):
        click.echo(f'{list(networks)} {seeds}')
    result = CliRunner().invoke(cmd, ['--network', 'a.pkl', '--network', 'b.pkl', '--seeds', '2-4'])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "['a.pkl', 'b.pkl'] [2, 3, 4]"
    help_text = CliRunner().invoke(cmd, ['--help']).output
    assert 'Which seeds.' in help_text and 'network-snapshot' in help_text
    result = CliRunner().invoke(cmd, ['--seeds', '2-4'])
    assert result.exit_code == 2 and "'--network'" in result.output      # Still required.


def test_help_of_both_commands_lists_every_shared_option():
    for command, names in (('eval', ['--network', '--upstream', '--spec', '--device', '--truncation']),
                           ('edit', ['--network', '--upstream', '--spec', '--device', '--truncation', '--seeds'])):
        result = CliRunner().invoke(main, [command, '--help'])
        assert result.exit_code == 0, result.output
        for name in names:
            assert name in result.output, (command, name)


@pytest.mark.parametrize('command', ['eval', 'edit'])
def test_loading_errors_name_the_option(tmp_path, command):
    missing = str(tmp_path / 'missing.pt')
    result = CliRunner().invoke(main, [command, '--network', missing, '--device', 'toaster'])
    assert result.exit_code == 2 and '--device' in result.output and 'Traceback' not in result.output
    result = CliRunner().invoke(main, [command, '--network', missing, '--device', 'cpu'])
    assert result.exit_code == 1 and 'file not found' in result.output


def test_network_from_option_names_the_option_it_is_given(tmp_path):
    missing = str(tmp_path / 'missing.pt')
    with pytest.raises(LinkganError, match='file not found') as plain:
        inputs.network_from_option(missing, None, inputs.device_from_option('cpu'))
    assert not isinstance(plain.value, OptionError)
    with pytest.raises(OptionError, match='file not found') as named:
        inputs.network_from_option(missing, None, inputs.device_from_option('cpu'), option='--network')
    assert named.value.option == '--network'
    with pytest.raises(OptionError) as device:
        inputs.device_from_option('toaster')
    assert device.value.option == '--device'


@pytest.mark.parametrize('content, fragment', [(b'{"a": [1, 2]}', None), (b'{"a": ', 'Expecting value'),
                                               (b'\xff\xfe{}', 'utf-8'), (b'[' * 100000, 'recursion')])
def test_read_json_option_names_the_option(tmp_path, content, fragment):
    path = tmp_path / 'x.json'
    path.write_bytes(content)
    if fragment is None:
        assert inputs.read_json_option(str(path), '--recipes') == {'a': [1, 2]}
        return
    with pytest.raises(OptionError, match=fragment) as e:
        inputs.read_json_option(str(path), '--recipes')
    assert e.value.option == '--recipes'
    with pytest.raises(OptionError, match='cannot read'):
        inputs.read_json_option(str(tmp_path / 'missing.json'), '--recipes')

#----------------------------------------------------------------------------
