"""The HTTP side of `linkgan view`: one page, its static assets and a small JSON API, on the standard library.

    GET  /                  the page (static/index.html)
    GET  /static/<name>     viewer.js, viewer.css: a fixed whitelist (STATIC_FILES); nothing else is served
    GET  /api/info          networks, links, direction sliders, ranges, the default state (ViewSession.info)
    POST /api/render        {state fields..., 'client': str, 'request': int} -> {'networks': [{'name', 'label',
                            'original', 'image', 'heat', 'depth': PNG data URLs, 'change_in', 'change_out'}],
                            'heat_max', 'render_ms', 'request'}
    POST /api/save          {state fields...} -> {'png', 'codes': {network: path}, 'json'} written to the out dir

Errors are JSON {'error': message}: 400 for a state the session refuses (unknown link, values out of range, bad
JSON), 404 for any other path, 500 when a render or save fails (the server keeps serving), 409 {'stale': true} for a superseded render, 403 for a foreign Host header, 413 for a
body over MAX_BODY bytes, 415 for a POST that is not application/json (which also keeps other web sites from posting
to the API: a cross-site JSON POST needs a CORS preflight, which this server never grants).

Only the latest request is rendered: renders run one at a time (a lock); every render request carries the page's
`client` id and an increasing `request` number, and a request that is still waiting when a newer one of the same
client has arrived is answered 409 without rendering. The page itself keeps at most one request in flight and sends
only the latest slider position when the answer arrives, so a slow network never builds a queue.
"""

import ipaddress
import json
import os
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from linkgan_plugin.view.session import ViewRequestError

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
STATIC_FILES = {'index.html': 'text/html; charset=utf-8', 'viewer.js': 'text/javascript; charset=utf-8',
                'viewer.css': 'text/css; charset=utf-8'}
MAX_BODY = 64 * 1024            # Bytes of a request body.
MAX_CLIENTS = 256               # Clients whose latest request number is remembered.

#----------------------------------------------------------------------------

class LatestRequests:
    """Per client, the newest render request number seen (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._latest = {}

    def note(self, client, request):
        with self._lock:
            if len(self._latest) >= MAX_CLIENTS and client not in self._latest:
                self._latest.pop(next(iter(self._latest)))
            if request > self._latest.get(client, -1):
                self._latest[client] = request

    def latest(self, client):
        with self._lock:
            return self._latest.get(client, -1)

    def is_stale(self, client, request):
        return request < self.latest(client)


def is_loopback(host):
    """True for 'localhost' and loopback addresses (127.0.0.0/8, ::1)."""
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ViewServer(ThreadingHTTPServer):
    """Serves one ViewSession. Binds on construction (OSError when the port is taken or the host is not local).

    Args:
        session: ViewSession (may be set later, before serving: the command binds before it loads networks).
        host, port: where to listen (port 0: a free port; `url` says which).
        out_dir: where Save writes.
        log: callable(str) for request logs, or None for none.
    """
    daemon_threads = True
    allow_reuse_address = False         # A port in use is an error, not shared.

    def __init__(self, session, host='127.0.0.1', port=0, out_dir='linkgan-view', log=None):
        self.address_family = socket.AF_INET6 if ':' in host else socket.AF_INET
        super().__init__((host, port), ViewHandler)
        self.session = session
        self.out_dir = out_dir
        self.log = log
        self.render_lock = threading.Lock()
        self.requests = LatestRequests()
        self.renders = 0                # Renders done (tests count them).

    @property
    def url(self):
        host, port = self.server_address[:2]
        shown = '127.0.0.1' if host in ('0.0.0.0', '::') else host
        return f'http://[{shown}]:{port}/' if ':' in shown else f'http://{shown}:{port}/'

    def allowed_hosts(self):
        """Host headers accepted (DNS rebinding): the bound name and loopback names on the port; any host when the
        server listens on every interface (the user asked for it with --host)."""
        host, port = self.server_address[:2]
        if host in ('0.0.0.0', '::'):
            return None
        names = {host, 'localhost', '127.0.0.1', '[::1]', f'[{host}]'}
        return {f'{n}:{port}' for n in names}

#----------------------------------------------------------------------------

class ViewHandler(BaseHTTPRequestHandler):
    server_version = 'linkgan-view'
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):
        if self.server.log is not None:
            self.server.log(f'{self.address_string()} {format % args}')

    #------------------------------------------------------------------------

    def do_GET(self):
        if not self._host_ok():
            return
        path = self.path.split('?', 1)[0]
        if path in ('/', '/index.html'):
            return self._static('index.html')
        if path.startswith('/static/') and path[len('/static/'):] in STATIC_FILES:
            return self._static(path[len('/static/'):])
        if path == '/api/info':
            return self._json(HTTPStatus.OK, self.server.session.info())
        return self._json(HTTPStatus.NOT_FOUND, {'error': f'not found: {path[:200]}'})

    def do_POST(self):
        if not self._host_ok():
            return
        path = self.path.split('?', 1)[0]
        if path not in ('/api/render', '/api/save'):
            self._drain()
            return self._json(HTTPStatus.NOT_FOUND, {'error': f'not found: {path[:200]}'})
        body = self._body()
        if body is None:
            return
        if path == '/api/render':
            return self._render(body)
        return self._save(body)

    #------------------------------------------------------------------------
    # The API.

    def _render(self, body):
        client = body.pop('client', 'default')
        request = body.pop('request', None)
        if not isinstance(client, str) or len(client) > 100:
            return self._json(HTTPStatus.BAD_REQUEST, {'error': 'client: expected a string of at most 100 characters'})
        if request is not None and (isinstance(request, bool) or not isinstance(request, int) or request < 0):
            return self._json(HTTPStatus.BAD_REQUEST, {'error': 'request: expected a non-negative integer'})
        server = self.server
        try:
            state = server.session.parse_state(body)
        except ViewRequestError as e:
            return self._json(HTTPStatus.BAD_REQUEST, {'error': str(e)})
        if request is not None:
            server.requests.note(client, request)
        with server.render_lock:
            if request is not None and server.requests.is_stale(client, request):
                return self._json(HTTPStatus.CONFLICT, {'stale': True, 'request': request,
                                                        'error': f'superseded by request {server.requests.latest(client)}'})
            try:
                view = server.session.render(state)
                answer = server.session.payload(view)
            except Exception as e:  # A network or segmenter failing on this state: say so, keep serving.
                return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {'error': f'render failed: {type(e).__name__}: {e}'})
            finally:
                server.renders += 1
        answer['request'] = request
        return self._json(HTTPStatus.OK, answer)

    def _save(self, body):
        server = self.server
        try:
            state = server.session.parse_state(body)
        except ViewRequestError as e:
            return self._json(HTTPStatus.BAD_REQUEST, {'error': str(e)})
        with server.render_lock:
            try:
                paths = server.session.save(state, server.out_dir)
            except OSError as e:
                return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {'error': f'cannot write to {server.out_dir}: {e}'})
            except Exception as e:  # As for renders.
                return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {'error': f'save failed: {type(e).__name__}: {e}'})
        return self._json(HTTPStatus.OK, paths)

    #------------------------------------------------------------------------
    # Plumbing.

    def _host_ok(self):
        allowed = self.server.allowed_hosts()
        host = self.headers.get('Host', '')
        if allowed is not None and host not in allowed:
            self._drain()
            self._json(HTTPStatus.FORBIDDEN, {'error': f'Host {host[:100]!r} is not served here (use {self.server.url})'})
            return False
        return True

    def _drain(self):
        """Reads and drops a (small) request body, so the connection stays in step."""
        length = self._length()
        if length and length <= MAX_BODY:
            self.rfile.read(length)
        elif length:
            self.close_connection = True

    def _length(self):
        try:
            return max(int(self.headers.get('Content-Length') or 0), 0)
        except ValueError:
            return 0

    def _body(self):
        """The request's JSON object, or None after answering with an error."""
        length = self._length()
        if length > MAX_BODY:
            self.close_connection = True
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {'error': f'request body over {MAX_BODY} bytes'})
            return None
        raw = self.rfile.read(length) if length else b''
        if self.headers.get('Content-Type', '').split(';')[0].strip().lower() != 'application/json':
            self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {'error': 'send the request as Content-Type: application/json'})
            return None
        try:
            body = json.loads(raw.decode('utf-8'))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            self._json(HTTPStatus.BAD_REQUEST, {'error': f'the body is not JSON: {str(e)[:200]}'})
            return None
        if not isinstance(body, dict):
            self._json(HTTPStatus.BAD_REQUEST, {'error': f'expected a JSON object, got {type(body).__name__}'})
            return None
        return body

    def _static(self, name):
        with open(os.path.join(STATIC_DIR, name), 'rb') as f:
            data = f.read()
        self._send(HTTPStatus.OK, data, STATIC_FILES[name])

    def _json(self, status, obj):
        self._send(status, json.dumps(obj).encode('utf-8'), 'application/json')

    def _send(self, status, data, content_type):
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Cache-Control', 'no-store')
        self.send_header('X-Content-Type-Options', 'nosniff')
        self.send_header('Content-Security-Policy', "default-src 'self'; img-src 'self' data:")
        self.end_headers()
        self.wfile.write(data)

#----------------------------------------------------------------------------
