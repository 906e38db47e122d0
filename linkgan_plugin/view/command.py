"""`linkgan view`: explore linked generators in the browser, control and linked side by side.

    linkgan view --network linkgan-demo/linked.pt --network linkgan-demo/control.pt
    linkgan view --network run/network-snapshot-000200.pkl --upstream ~/src/stylegan3 --spec spec.json

Everything that can go wrong is checked before the server starts: the port is free (--port; bound first, so this
fails fast), each network loads (a click error naming --network), the spec resolves and fits every network
(--spec), direction files fit (--direction), --link is in the spec, and one view renders. Then the URL is printed
and the server runs until Ctrl-C.
"""

import click

from linkgan_plugin.analysis.cli_options import (
    device_for_cli, device_option, network_for_cli, network_option, spec_option, truncation_option, upstream_option)
from linkgan_plugin.analysis.network_loading import SpecResolutionError
from linkgan_plugin.checks import SpecError
from linkgan_plugin.view.server import ViewServer, is_loopback
from linkgan_plugin.view.session import (
    MAX_NETWORKS, MAX_SEED, ViewSession, network_names, resolve_view_spec, view_directions)

#----------------------------------------------------------------------------

def load_view_session(networks, upstream=None, spec=None, direction_files=(), truncation=1.0, device='auto', seed=0,
                      link=None, echo=click.echo):
    """A ViewSession of the named network files; every problem becomes a click error naming the option.

    Args:
        networks:        network files (demo checkpoints or upstream snapshot pickles), 1 to MAX_NETWORKS.
        upstream, spec, truncation, device: as the other network commands take them.
        direction_files: `linkgan lelsd` / `linkgan directions` .npz files (W or W+ directions).
        seed, link:      the page's first sample and link.
        echo:            where notes (warnings) go.
    """
    if not 1 <= len(networks) <= MAX_NETWORKS:
        raise click.BadParameter(f'give 1 to {MAX_NETWORKS} networks, got {len(networks)}', param_hint='--network')
    dev = device_for_cli(device)
    entries = []
    for name, path in zip(network_names(networks), networks):
        net, gen = network_for_cli(path, upstream, dev, param_hint='--network')
        entries.append((name, net, gen))
    try:
        spec_obj, origin, notes = resolve_view_spec(entries, spec)
    except SpecResolutionError as e:
        raise click.UsageError(str(e)) from None
    except SpecError as e:
        raise click.BadParameter(str(e), param_hint='--spec' if spec is not None else '--network') from None
    if link is not None and link not in spec_obj.names:
        raise click.BadParameter(f'unknown link {link!r} (the spec has: {", ".join(spec_obj.names)})', param_hint='--link')
    session = ViewSession.from_loaded(entries, spec_obj, spec_origin=origin, truncation=truncation, default_seed=seed,
                                      default_link=link)
    for path in direction_files:
        try:
            directions, more = view_directions(path, session.networks)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint='--direction') from None
        session.directions += directions
        notes += more
    session.notes = list(notes)
    for note in notes:
        echo(f'note: {note}', err=True)
    return session


def open_server(session, host, port, out_dir):
    """A bound ViewServer; a click error naming --port (in use, no permission) or --host (not an address here)."""
    try:
        return ViewServer(session, host=host, port=port, out_dir=out_dir)
    except OSError as e:
        reason = e.strerror or str(e)
        if e.errno in (98, 48, 10048, 13, 10013):           # EADDRINUSE (Linux, macOS, Windows), EACCES.
            raise click.BadParameter(f'cannot listen on {host}:{port}: {reason}; pick another port, or 0 for a free one',
                                     param_hint='--port') from None
        raise click.BadParameter(f'cannot listen on {host}:{port}: {reason}', param_hint='--host') from None


def serve(server):
    """Serves until Ctrl-C, then closes the socket."""
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

#----------------------------------------------------------------------------

@click.command('view', context_settings={'help_option_names': ['-h', '--help']})
@network_option('--network', 'networks', multiple=True,
                help='A demo checkpoint or an upstream network-snapshot-*.pkl (its G_ema); repeat to show networks '
                     f'side by side (up to {MAX_NETWORKS}), e.g. linked and control.')
@upstream_option()
@spec_option(help='Link spec (file or inline JSON). Default: the first network\'s (a control without one takes the '
                  'linked network\'s).')
@click.option('--direction', 'direction_files', multiple=True, type=click.Path(exists=True, dir_okay=False),
              help='`linkgan lelsd` / `linkgan directions` .npz file: one more slider per direction it holds (repeatable).')
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
