"""`linkgan view`: the session (one view state -> pictures and numbers), the HTTP API (render, save, bad requests,
only-latest rendering, static whitelist, Host check) and the command's checks before the server starts.

Always run (no browser needed); tests/test_view_browser.py drives the real page in headless Chromium.
"""

import base64
import http.client
import io
import json
import os
import socket
import threading
import time

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from linkgan_plugin.analysis.network_loading import load_network, make_adapter
from linkgan_plugin.analysis.pictures import heatmap
from linkgan_plugin.checks import LinkganWarning
from linkgan_plugin.demo.settings import BUILTIN_SPEC
from linkgan_plugin.cli.edit import edit_command
from linkgan_plugin.editing.edit import load_ws_file
from linkgan_plugin.editing import directions_file
from linkgan_plugin.editing.lelsd import LelsdResult, network_hash
from linkgan_plugin.editing.stylespace import StyleChannels
from linkgan_plugin.spec import load_spec
from linkgan_plugin.cli import view as view_cli
from linkgan_plugin.cli.view import view_command
from linkgan_plugin.view.loading import load_view_session
from linkgan_plugin.view.server import STATIC_FILES, ViewServer
from linkgan_plugin.view.session import (
    ViewRequestError, ViewSession, network_names, resolve_view_spec)
from linkgan_plugin.toy.networks import make_toy_networks
from toy_checkpoints import SMALL, read_image, save_demo_checkpoint, toy_G, write_view_pair

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY_SPEC = {'links': [{'name': 'corner', 'axes': '0:8', 'region': {'box': [0, 0, 0.5, 0.5]}},
                      {'name': 'rest', 'axes': '8:16', 'region': {'box': [0.5, 0, 1, 1]}}]}

pytestmark = pytest.mark.usefixtures('one_thread', 'reference_kernel')


@pytest.fixture
def reference_kernel(monkeypatch):
    """The masked-difference reference: these tests never wait for a kernel build (the numbers are the same)."""
    monkeypatch.setenv('LINKGAN_KERNEL', 'ref')


def session_of(paths, spec=None, **kwargs):
    entries = []
    for name, path in zip(network_names(paths), paths):
        net = load_network(path)
        entries.append((name, net, make_adapter(net)))
    spec_obj, origin, notes = resolve_view_spec(entries, spec)
    return ViewSession.from_loaded(entries, spec_obj, spec_origin=origin, notes=notes, **kwargs)


@pytest.fixture(scope='module')
def pair_files(tmp_path_factory):
    """[linked, control]: toy_checkpoints.write_view_pair's analytic networks, 32 px, the demo's BUILTIN_SPEC at
    w_dim 64. The linked one is perfectly linked by construction (a link's axes change nothing outside its box), the
    control leaks (cross-talk) and stores no spec."""
    return write_view_pair(tmp_path_factory.mktemp('view-pair'))


@pytest.fixture(scope='module')
def pair(pair_files):
    """A session of the linked network and its control (the control takes the linked network's spec)."""
    return session_of(pair_files)


@pytest.fixture(scope='module')
def toy_files(tmp_path_factory):
    """Small toy checkpoints: a linked sg2ada, an sg2ada without a spec, an EG3D, all with TOY_SPEC's w_dim 32."""
    d = tmp_path_factory.mktemp('view-nets')
    files = {'linked': str(d / 'linked.pt'), 'nospec': str(d / 'nospec.pt'), 'eg3d': str(d / 'eg3d.pt')}
    save_demo_checkpoint(files['linked'], toy_G('sg2ada', seed=0), 'sg2ada', TOY_SPEC)
    save_demo_checkpoint(files['nospec'], toy_G('sg2ada', seed=1), 'sg2ada', None)
    save_demo_checkpoint(files['eg3d'], toy_G('eg3d', seed=2), 'eg3d', TOY_SPEC)
    return files


def pixels(image):
    return np.asarray(image, dtype=np.int16)

#----------------------------------------------------------------------------
# The session.

def test_the_pair_takes_the_linked_networks_spec(pair):
    assert pair.spec.to_dict()['links'] == load_spec(BUILTIN_SPEC).to_dict()['links']
    assert pair.spec_origin == 'checkpoint of analytic-linked' and pair.notes == []
    assert [vn.label for vn in pair.networks] == ['analytic-linked (linked)', 'analytic-control (unlinked)']
    assert [vn.gen.w_dim for vn in pair.networks] == [64, 64]


def test_an_unmoved_view_changes_nothing_and_moving_the_link_changes_its_region(pair):
    still = pair.render(pair.parse_state({'seed': 0, 'link': 'top_left'}))
    for entry in still['networks']:
        assert entry['change_in'] == 0 and entry['change_out'] == 0
        assert (pixels(entry['image']) == pixels(entry['original'])).all()
    moved = pair.render(pair.parse_state({'seed': 0, 'link': 'top_left', 'linked': 1.0}))
    linked, control = moved['networks']
    assert linked['change_in'] > 0 and control['change_out'] > 0
    assert linked['change_out'] < control['change_out']            # The point of LinkGAN.
    assert linked['change_out'] < linked['change_in'] / 5
    assert linked['change_out'] == 0                                # Perfectly linked by construction.
    assert linked['image'].size == (128, 128) == linked['heat'].size     # 32 px enlarged to the tile.
    assert moved['heat_max'] > 0 and linked['depth'] is None


def test_the_linked_network_leaks_less_than_the_control_over_seeds(pair):
    ratios = []
    for seed in range(6):
        view = pair.render(pair.parse_state({'seed': seed, 'linked': 1.0, 'linked_target': 100 + seed}))
        linked, control = view['networks']
        ratios.append(linked['change_out'] / control['change_out'])
    assert np.median(ratios) < 0.5, ratios


def test_the_heatmap_has_one_scale_for_every_network(pair):
    state = pair.parse_state({'seed': 1, 'linked': 1.0})
    auto = pair.render(state)
    top = heatmap(np.ones([1, 1]), 1.0)[0, 0]
    reaches = [bool((np.asarray(e['heat']) == top).all(axis=-1).any()) for e in auto['networks']]
    assert reaches.count(True) == 1              # One scale: only the network with the largest change hits the top.
    fixed = pair.render(pair.parse_state({'seed': 1, 'linked': 1.0, 'heat_max': 10 * auto['heat_max']}))
    assert fixed['heat_max'] == pytest.approx(10 * auto['heat_max'])
    for before, entry in zip(auto['networks'], fixed['networks']):     # A larger fixed scale is darker.
        inner = lambda img: np.asarray(img)[4:-4, 4:-4].astype(int).sum()          # Away from the outline.
        assert inner(entry['heat']) < inner(before['heat'])


def test_a_render_is_repeatable_and_leaves_the_process_rng_alone(pair):
    state = pair.parse_state({'seed': 4, 'linked': 0.5, 'other': 0.3})
    before = torch.get_rng_state()
    a, b = pair.render(state), pair.render(state)
    assert torch.equal(before, torch.get_rng_state())
    for ea, eb in zip(a['networks'], b['networks']):
        assert (pixels(ea['image']) == pixels(eb['image'])).all() and ea['change_out'] == eb['change_out']


def test_moving_the_other_axes_keeps_the_links_axes(pair):
    state = pair.parse_state({'seed': 2, 'other': 1.0})
    axes = pair.spec.links[0].axes
    for vn, entry in zip(pair.networks, pair.render(state)['networks']):
        ws, edited, _ = pair.codes(vn, state)
        others = [a for a in range(vn.gen.w_dim) if a not in axes]
        assert torch.equal(edited[..., axes], ws[..., axes])
        assert torch.allclose(edited[..., others], pair.mapped(vn, 4)[..., others], atol=1e-6)   # Target: seed + 2.
        assert entry['change_out'] > 0


def test_codes_lerp_the_links_axes_only(pair):
    vn = pair.networks[0]
    axes = pair.spec.links[0].axes
    ws, half, _ = pair.codes(vn, pair.parse_state({'seed': 0, 'linked': 0.5}))
    _, full, _ = pair.codes(vn, pair.parse_state({'seed': 0, 'linked': 1.0}))
    target = pair.mapped(vn, 1)                                       # The default target: seed + 1.
    others = [a for a in range(vn.gen.w_dim) if a not in axes]
    assert torch.allclose(full[..., axes], target[..., axes], atol=1e-6)
    assert torch.allclose(half[..., axes], (ws[..., axes] + target[..., axes]) / 2, atol=1e-6)
    assert torch.equal(full[..., others], ws[..., others])


@pytest.mark.parametrize('data, field', [
    ({'link': 'nose'}, 'link: unknown link'),
    ({'bogus': 1}, "unknown field 'bogus'"),
    ({'linked': 1.5}, 'linked: 1.5 is outside [0, 1]'),
    ({'linked': 'half'}, 'linked: expected a finite number'),
    ({'other': float('nan')}, 'other: expected a finite number'),
    ({'seed': -1}, 'seed: expected a seed'),
    ({'seed': 2 ** 32}, 'seed: expected a seed'),
    ({'seed': 1.5}, 'seed: expected a seed'),
    ({'linked_target': True}, 'linked_target: expected a seed'),
    ({'directions': [0.5]}, 'directions: expected a list of 0'),
    ({'yaw': 0.2}, 'yaw: only EG3D networks'),
    ({'heat_max': 0}, 'heat_max: 0 is outside (0, inf]'),
], ids=lambda v: str(v) if isinstance(v, dict) else None)
def test_bad_states_are_refused_naming_the_field(pair, data, field):
    with pytest.raises(ViewRequestError, match=field.replace('[', r'\[').replace('(', r'\(')):
        pair.parse_state(data)


def test_network_names_are_short_and_unique():
    assert network_names(['a/linked.pt', 'b/linked.pt', 'c/my net!.pkl']) == ['linked', 'linked-2', 'my_net_.pkl'[:-4]]


def test_a_network_without_a_spec_takes_the_other_networks(toy_files):
    session = session_of([toy_files['nospec'], toy_files['linked']])
    assert session.spec.names == ['corner', 'rest'] and session.spec_origin == 'checkpoint of linked'


def test_an_eg3d_network_has_a_camera_and_depth(toy_files):
    session = session_of([toy_files['eg3d'], toy_files['linked']])
    assert session.info()['eg3d'] and session.info()['networks'][0]['eg3d']
    front = session.render(session.parse_state({'seed': 0, 'linked': 1.0}))
    turned = session.render(session.parse_state({'seed': 0, 'linked': 1.0, 'yaw': 0.4}))
    assert front['networks'][0]['depth'] is not None and front['networks'][1]['depth'] is None
    assert (pixels(front['networks'][0]['original']) != pixels(turned['networks'][0]['original'])).any()
    assert (pixels(front['networks'][1]['original']) == pixels(turned['networks'][1]['original'])).all()

#----------------------------------------------------------------------------
# Directions.

def write_direction(path, gen, found_on=None):
    torch.manual_seed(5)
    u = torch.randn(1, gen.w_dim)
    result = LelsdResult(directions=(3 * u / u.norm()).numpy(), space='w', rows=None, axes=None,
                         region={'box': [0, 0, 0.5, 0.5]}, link='corner', num_ws=gen.num_ws, w_dim=gen.w_dim,
                         network_hash=network_hash(found_on.G) if found_on else '', settings={'method': 'lelsd'})
    directions_file.save(path, result)


def test_a_direction_file_adds_a_slider_for_the_network_it_was_found_on(toy_files, tmp_path):
    session = load_view_session([toy_files['linked'], toy_files['nospec']])
    path = str(tmp_path / 'dirs.npz')
    write_direction(path, session.networks[0].gen, found_on=session.networks[0].gen)
    session = load_view_session([toy_files['linked'], toy_files['nospec']], direction_files=[path])
    assert [d['label'] for d in session.info()['directions']] == ['LELSD dirs.npz #0']
    assert session.info()['directions'][0]['networks'] == ['linked']
    view = session.render(session.parse_state({'directions': [1.0]}))
    assert view['networks'][0]['change_in'] > 0
    assert view['networks'][1]['change_in'] == 0 and view['networks'][1]['change_out'] == 0


def test_a_direction_from_elsewhere_applies_to_every_fitting_network_with_a_note(toy_files, tmp_path):
    gen = load_view_session([toy_files['linked']]).networks[0].gen
    path = str(tmp_path / 'dirs.npz')
    write_direction(path, gen)
    with pytest.warns(LinkganWarning, match='found on another network'):
        session = load_view_session([toy_files['linked'], toy_files['nospec']], direction_files=[path])
    assert session.info()['directions'][0]['networks'] == ['linked', 'nospec']
    assert any('found on another network' in n for n in session.notes)


def test_a_stylespace_channel_file_is_refused_naming_direction(toy_files, tmp_path):
    path = str(tmp_path / 'channels.npz')
    channels = StyleChannels(layers=['synthesis.b4.conv1.affine'], channels=[0], stds=[1.0], shares=[0.5],
                             region={'box': [0, 0, 0.5, 0.5]}, link='corner')
    directions_file.save(path, channels)                     # `linkgan directions --method stylespace`'s file.
    res = CliRunner().invoke(view_command, ['--network', toy_files['linked'], '--direction', path])
    assert res.exit_code == 2 and '--direction' in res.output and 'StyleSpace' in res.output

#----------------------------------------------------------------------------
# The HTTP API.

@pytest.fixture
def served(pair, tmp_path):
    server = ViewServer(pair, port=0, out_dir=str(tmp_path / 'saved'))
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def request(server, method, path, body=None, headers=None, raw=None):
    """(status, decoded JSON or text, headers) of one request."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {'Content-Type': 'application/json'} if data is not None else {}
    hdrs.update(headers or {})
    conn.request(method, path, body=data, headers=hdrs)
    res = conn.getresponse()
    payload = res.read()
    conn.close()
    kind = res.getheader('Content-Type', '')
    return res.status, (json.loads(payload) if kind.startswith('application/json') else payload.decode()), res


def decode_png(url):
    assert url.startswith('data:image/png;base64,')
    return read_image(io.BytesIO(base64.b64decode(url.split(',', 1)[1])))


def test_the_page_and_its_assets_are_served_and_nothing_else(served):
    status, html, _ = request(served, 'GET', '/')
    assert status == 200 and '<script src="/static/viewer.js">' in html
    for name in STATIC_FILES:
        status, text, res = request(served, 'GET', f'/static/{name}')
        assert status == 200 and text and res.getheader('Content-Type') == STATIC_FILES[name]
    for path in ('/static/../session.py', '/static/session.py', '/static/', '/../setup.py', '/etc/passwd',
                 '/static/%2e%2e/session.py', '/favicon.ico'):
        status, body, _ = request(served, 'GET', path)
        assert status == 404 and 'error' in body, path


def test_the_page_fetches_nothing_from_elsewhere():
    static = os.path.join(ROOT, 'linkgan_plugin', 'view', 'static')
    for name in STATIC_FILES:
        with open(os.path.join(static, name), encoding='utf-8') as f:
            text = f.read()
        assert 'http://' not in text and 'https://' not in text and '//cdn' not in text, name


def test_info_describes_networks_links_and_the_default_state(served):
    status, info, _ = request(served, 'GET', '/api/info')
    assert status == 200
    assert [n['name'] for n in info['networks']] == ['analytic-linked', 'analytic-control']
    assert [link['name'] for link in info['links']] == ['top_left', 'bottom_right']
    assert info['state'] == {'seed': 0, 'link': 'top_left', 'linked': 0.0, 'linked_target': 1, 'other': 0.0,
                             'other_target': 2, 'directions': [], 'yaw': 0.0, 'heat_max': None}


def test_render_answers_pictures_and_numbers_that_follow_the_slider(served):
    answers = []
    for t in (0.0, 0.5, 1.0):
        status, answer, _ = request(served, 'POST', '/api/render', {'seed': 3, 'link': 'top_left', 'linked': t})
        assert status == 200, answer
        answers.append(answer)
    for answer in answers:
        assert [n['name'] for n in answer['networks']] == ['analytic-linked', 'analytic-control']
        for net in answer['networks']:
            assert decode_png(net['image']).size == (128, 128) and decode_png(net['heat']).size == (128, 128)
            assert net['depth'] is None
    assert answers[0]['networks'][0]['change_in'] == 0
    ins = [a['networks'][0]['change_in'] for a in answers]
    assert ins[0] < ins[1] < ins[2]
    assert answers[1]['networks'][0]['image'] != answers[2]['networks'][0]['image']
    linked, control = answers[2]['networks']
    assert linked['change_out'] < control['change_out']


@pytest.mark.parametrize('body, raw, status, message', [
    ({'link': 'nose'}, None, 400, "unknown link 'nose'"),
    ({'linked': 2}, None, 400, 'linked: 2 is outside'),
    ({'client': 5}, None, 400, 'client: expected a string'),
    ({'request': -1}, None, 400, 'request: expected a non-negative integer'),
    (None, b'{"linked": ', 400, 'not JSON'),
    (None, b'[1, 2]', 400, 'expected a JSON object'),
    (None, b'\xff\xfe', 400, 'not JSON'),
    (None, b'{"pad": "' + b'x' * (70 * 1024) + b'"}', 413, 'over'),
], ids=['unknown-link', 'out-of-range', 'bad-client', 'bad-request-number', 'truncated-json', 'not-an-object',
        'not-utf8', 'too-large'])
def test_bad_render_requests_get_a_json_error(served, body, raw, status, message):
    got, answer, _ = request(served, 'POST', '/api/render', body, raw=raw)
    assert got == status and message in answer['error']


def test_posts_must_be_json_and_name_a_known_endpoint(served):
    status, answer, _ = request(served, 'POST', '/api/render', raw=b'{}', headers={'Content-Type': 'text/plain'})
    assert status == 415 and 'application/json' in answer['error']
    status, answer, _ = request(served, 'POST', '/api/nothing', {})
    assert status == 404


def test_a_failing_render_is_a_json_error_and_the_server_keeps_serving(served):
    def broken(state):
        raise RuntimeError('segmenter exploded')
    served.session.render = broken
    try:
        status, answer, _ = request(served, 'POST', '/api/render', {'linked': 0.5})
    finally:
        del served.session.render                       # Back to the class's method.
    assert status == 500 and 'segmenter exploded' in answer['error']
    assert request(served, 'POST', '/api/render', {'linked': 0.5})[0] == 200


def test_a_foreign_host_header_is_refused(served):
    status, answer, _ = request(served, 'GET', '/api/info', headers={'Host': 'attacker.example:80'})
    assert status == 403 and 'not served here' in answer['error']
    port = served.server_address[1]
    assert request(served, 'GET', '/api/info', headers={'Host': f'localhost:{port}'})[0] == 200


def test_only_the_latest_request_of_a_client_is_rendered(served):
    """Request 1 renders while 2 and 3 wait; 2 is superseded by 3 before its turn, so it is answered 409 unrendered."""
    session = served.session
    gate, entered, rendered = threading.Event(), threading.Event(), []
    real_render = session.render

    def slow_render(state):
        rendered.append(state.linked)
        if state.linked == 0.1:
            entered.set()
            gate.wait(10)
        return real_render(state)

    session.render = slow_render                            # Shadows the method on this instance.
    try:
        results = {}

        def send(n, t):
            results[n] = request(served, 'POST', '/api/render', {'linked': t, 'client': 'c', 'request': n})

        first = threading.Thread(target=send, args=(1, 0.1))
        first.start()
        assert entered.wait(10)
        others = [threading.Thread(target=send, args=(2, 0.2)), threading.Thread(target=send, args=(3, 0.3))]
        others[0].start()
        deadline = time.time() + 10
        while served.requests.latest('c') < 2 and time.time() < deadline:
            time.sleep(0.01)
        others[1].start()
        while served.requests.latest('c') < 3 and time.time() < deadline:
            time.sleep(0.01)
        gate.set()
        for t in [first] + others:
            t.join(30)
    finally:
        del session.render
    assert results[1][0] == 200 and results[1][1]['request'] == 1
    assert results[2][0] == 409 and results[2][1]['stale'] is True
    assert results[3][0] == 200 and results[3][1]['request'] == 3
    assert rendered == [0.1, 0.3]
    # Another client's requests are independent; requests without numbers are always rendered.
    assert request(served, 'POST', '/api/render', {'linked': 0.4, 'client': 'd', 'request': 1})[0] == 200
    assert request(served, 'POST', '/api/render', {'linked': 0.4})[0] == 200


def test_save_writes_the_picture_and_codes_that_edit_reads(served, pair_files, tmp_path):
    state = {'seed': 5, 'link': 'top_left', 'linked': 1.0, 'linked_target': 9}
    status, paths, _ = request(served, 'POST', '/api/save', state)
    assert status == 200, paths
    assert os.path.isfile(paths['png']) and read_image(paths['png']).width > 2 * 3 * 128
    with open(paths['json'], encoding='utf-8') as f:
        saved = json.load(f)
    assert saved['state']['linked_target'] == 9 and set(saved['numbers']) == set(paths['codes'])
    session = served.session
    for vn in session.networks:
        ws, c = load_ws_file(paths['codes'][vn.name], vn.gen.num_ws, vn.gen.w_dim)
        _, expected, _ = session.codes(vn, session.parse_state(state))
        assert torch.allclose(ws, expected.cpu()) and c is None and vn.gen.c_dim == 0
    out = str(tmp_path / 'edit.png')
    res = CliRunner().invoke(edit_command, ['--network', pair_files[0], '--ws', paths['codes']['analytic-linked'],
                                           '--num', '1', '--out', out])
    assert res.exit_code == 0, res.output
    assert os.path.isfile(out)
    status, again, _ = request(served, 'POST', '/api/save', state)          # A second save never overwrites.
    assert again['png'] != paths['png']

#----------------------------------------------------------------------------
# The command: everything is checked before the server starts.

def run_view(args, monkeypatch, served=None):
    """`linkgan view ARGS` with the serving loop replaced by one that records the server and returns."""
    def fake_serve(server):
        if served is not None:
            served.append(server.url)
        server.server_close()
    monkeypatch.setattr(view_cli, 'serve', fake_serve)
    return CliRunner().invoke(view_command, [str(a) for a in args])


def test_the_command_prints_the_url_and_binds_to_loopback(monkeypatch, toy_files):
    urls = []
    res = run_view(['--network', toy_files['linked'], '--network', toy_files['nospec']], monkeypatch, urls)
    assert res.exit_code == 0, res.output
    assert urls and urls[0].startswith('http://127.0.0.1:') and f'serving {urls[0]}' in res.output
    assert 'warning' not in res.output


def test_the_command_warns_when_it_listens_beyond_loopback(monkeypatch, toy_files):
    res = run_view(['--network', toy_files['linked'], '--host', '0.0.0.0'], monkeypatch, [])
    assert res.exit_code == 0, res.output
    assert 'warning: listening on 0.0.0.0, not loopback' in res.output


@pytest.mark.parametrize('case, option, message', [
    ('missing', '--network', 'file not found'),
    ('text', '--network', 'not a network pickle or checkpoint'),
    ('no-spec', None, 'pass --spec'),
    ('spec-too-wide', '--spec', 'out of range for w_dim=32'),
    ('link', '--link', "unknown link 'nose'"),
    ('port', '--port', 'Address already in use'),
])
def test_bad_input_fails_before_the_server_starts(monkeypatch, toy_files, tmp_path, case, option, message):
    text = tmp_path / 'notes.txt'
    text.write_text('not a network')
    args = {'missing': ['--network', tmp_path / 'nothing.pt'],
            'text': ['--network', text],
            'no-spec': ['--network', toy_files['nospec']],
            'spec-too-wide': ['--network', toy_files['linked'], '--spec',
                              '{"links": [{"name": "a", "axes": "0:40", "region": {"box": [0, 0, 0.5, 0.5]}}]}'],
            'link': ['--network', toy_files['linked'], '--link', 'nose']}.get(case)
    busy = None
    if case == 'port':
        busy = socket.socket()
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        args = ['--network', toy_files['linked'], '--port', busy.getsockname()[1]]
    try:
        urls = []
        res = run_view(args, monkeypatch, urls)
    finally:
        if busy is not None:
            busy.close()
    assert res.exit_code == 2 and not urls, res.output
    assert message in res.output and 'Traceback' not in res.output
    if option:
        assert f'Invalid value for {option}' in res.output


def test_a_spec_that_does_not_fit_the_second_network_names_it(monkeypatch, toy_files, tmp_path):
    narrow = str(tmp_path / 'narrow.pt')
    torch.manual_seed(0)
    save_demo_checkpoint(narrow, make_toy_networks('sg2ada', **{**SMALL, 'w_dim': 16})[0].eval(), 'sg2ada', None)
    spec = '{"links": [{"name": "a", "axes": "16:24", "region": {"box": [0, 0, 0.5, 0.5]}}]}'
    res = run_view(['--network', toy_files['linked'], '--network', narrow, '--spec', spec], monkeypatch, [])
    assert res.exit_code == 2 and 'Invalid value for --spec' in res.output
    assert 'does not fit network narrow (w_dim=16' in res.output
