"""What `linkgan view` (cli/view.py) loads and serves, checked before the server starts: the port is free (bound
first, so a port in use fails fast), each network loads (naming --network), the spec resolves and fits every network
(--spec), direction files fit (--direction), --link is in the spec. Every problem is an error naming the option.

    linkgan view --network linkgan-demo/linked.pt --network linkgan-demo/control.pt
    linkgan view --network run/network-snapshot-000200.pkl --upstream ~/src/stylegan3 --spec spec.json
"""

import warnings

from linkgan_plugin.analysis.inputs import device_from_option, network_from_option
from linkgan_plugin.analysis.network_loading import SpecResolutionError
from linkgan_plugin.checks import LinkganWarning, OptionError, SpecError, UsageProblem
from linkgan_plugin.view.server import ViewServer
from linkgan_plugin.view.session import (
    MAX_NETWORKS, ViewSession, network_names, resolve_view_spec, view_directions)

#----------------------------------------------------------------------------

def load_view_session(networks, upstream=None, spec=None, direction_files=(), truncation=1.0, device='auto', seed=0,
                      link=None):
    """A ViewSession of the named network files; every problem is an error naming the option, every note a
    LinkganWarning (and kept in session.notes).

    Args:
        networks:        network files (demo checkpoints or upstream snapshot pickles), 1 to MAX_NETWORKS.
        upstream, spec, truncation, device: as the other network commands take them.
        direction_files: `linkgan directions` .npz files (W or W+ directions).
        seed, link:      the page's first sample and link.
    """
    if not 1 <= len(networks) <= MAX_NETWORKS:
        raise OptionError('--network', f'give 1 to {MAX_NETWORKS} networks, got {len(networks)}')
    dev = device_from_option(device)
    entries = []
    for name, path in zip(network_names(networks), networks):
        net, gen = network_from_option(path, upstream, dev, option='--network')
        entries.append((name, net, gen))
    try:
        spec_obj, origin, notes = resolve_view_spec(entries, spec)
    except SpecResolutionError as e:
        raise UsageProblem(str(e)) from None
    except SpecError as e:
        raise OptionError('--spec' if spec is not None else '--network', str(e)) from None
    if link is not None and link not in spec_obj.names:
        raise OptionError('--link', f'unknown link {link!r} (the spec has: {", ".join(spec_obj.names)})')
    session = ViewSession.from_loaded(entries, spec_obj, spec_origin=origin, truncation=truncation, default_seed=seed,
                                      default_link=link)
    for path in direction_files:
        try:
            directions, more = view_directions(path, session.networks)
        except ValueError as e:
            raise OptionError('--direction', str(e)) from None
        session.directions += directions
        notes += more
    session.notes = list(notes)
    for note in notes:
        warnings.warn(note, LinkganWarning, stacklevel=2)
    return session


def open_server(session, host, port, out_dir):
    """A bound ViewServer; OptionError naming --port (in use, no permission) or --host (not an address here)."""
    try:
        return ViewServer(session, host=host, port=port, out_dir=out_dir)
    except OSError as e:
        reason = e.strerror or str(e)
        if e.errno in (98, 48, 10048, 13, 10013):           # EADDRINUSE (Linux, macOS, Windows), EACCES.
            raise OptionError('--port', f'cannot listen on {host}:{port}: {reason}; pick another port, or 0 for a '
                                        'free one') from None
        raise OptionError('--host', f'cannot listen on {host}:{port}: {reason}') from None


def serve(server):
    """Serves until Ctrl-C, then closes the socket."""
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

#----------------------------------------------------------------------------

#----------------------------------------------------------------------------
