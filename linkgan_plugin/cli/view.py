"""`linkgan view`: explore linked generators in the browser, control and linked side by side (view/ serves it)."""

import click

from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import device_option, network_option, spec_option, truncation_option, upstream_option
from linkgan_plugin.view.loading import load_view_session, open_server, serve
from linkgan_plugin.view.server import is_loopback
from linkgan_plugin.view.session import MAX_NETWORKS, MAX_SEED

#----------------------------------------------------------------------------

@click.command('view', cls=Command)
@network_option('--network', 'networks', multiple=True,
                help='A demo checkpoint or an upstream network-snapshot-*.pkl (its G_ema); repeat to show networks '
                     f'side by side (up to {MAX_NETWORKS}), e.g. linked and control.')
@upstream_option()
@spec_option(help='Link spec (file or inline JSON). Default: the first network\'s (a control without one takes the '
                  'linked network\'s).')
@click.option('--direction', 'direction_files', multiple=True, type=click.Path(exists=True, dir_okay=False),
              help='`linkgan directions` .npz file: one more slider per direction it holds (repeatable).')
@truncation_option()
@click.option('--seed', type=click.IntRange(0, MAX_SEED), default=0, show_default=True, help='The first sample\'s seed.')
@click.option('--link', 'link_name', type=str, default=None, help='The first link shown. Default: the spec\'s first.')
@device_option()
@click.option('--host', type=str, default='127.0.0.1', show_default=True,
              help='Address to listen on. Anything but loopback makes the page reachable from other machines.')
@click.option('--port', type=click.IntRange(0, 65535), default=0, show_default=True, help='Port; 0 picks a free one.')
@click.option('--out-dir', type=click.Path(file_okay=False), default='linkgan-view', show_default=True,
              help='Where "save" writes the view (PNG, JSON) and its codes (.npz for `linkgan edit --ws`).')
@click.option('--open', 'open_browser', is_flag=True, help='Open the page in the default web browser.')
def view_command(networks, upstream, spec, direction_files, truncation, seed, link_name, device, host, port, out_dir,
                 open_browser):
    """Explore linked generators in a local web page: move a link's axes and watch which pixels change."""
    server = open_server(None, host, port, out_dir)     # Bound first: a port in use fails before anything loads.
    try:
        session = load_view_session(networks, upstream, spec, direction_files, truncation, device, seed, link_name)
        click.echo('rendering a first view (a first run on this machine also builds the masked-difference kernel)', err=True)
        view = session.render(session.default_state())
    except BaseException:
        server.server_close()
        raise
    server.session = session
    click.echo(f'linkgan view: {len(session.networks)} network(s), {len(session.spec.links)} link(s); one view renders '
               f'in {1000 * view["seconds"]:.0f} ms on {session.networks[0].gen.device}')
    if not is_loopback(host):
        click.echo(f'warning: listening on {host}, not loopback: other machines can reach this page and its API '
                   '(renders, and saves into --out-dir)', err=True)
    click.echo(f'serving {server.url}  (Ctrl-C stops)')
    if open_browser:
        import webbrowser     # Lazy: only for --open.
        webbrowser.open(server.url)
    serve(server)

#----------------------------------------------------------------------------
