"""The training half of `linkgan pair` (pair.py): the two train.py processes of a pair, each a resumable run of
segments, and what their directories say about how far each role got (pair.py's module docstring, steps 2-3).
"""

import contextlib
import json
import math
import os
import re
import shlex
import signal
import subprocess
import threading

import torch

from linkgan_plugin import smoke
from linkgan_plugin.checks import LinkganError

ROLES = ('control', 'linked')
STATE_FILE = 'pair_run.json'                # <out>/<role>/: written when the role finished.
SNAPSHOT_RE = re.compile(r'^network-snapshot-(\d+)\.pkl$')

#----------------------------------------------------------------------------
# What the role directories say.

def segment_dirs(role_dir):
    """Upstream's numbered run directories inside <out>/<role> (one per training segment), in order."""
    if not os.path.isdir(role_dir):
        return []
    return [os.path.join(role_dir, d) for d in sorted(os.listdir(role_dir))
            if re.match(r'^\d+', d) and os.path.isdir(os.path.join(role_dir, d))]


def read_json(path):
    """The JSON document in `path`, or None when it is missing or not JSON."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def segment_progress(run_dir):
    """(kimg trained, latest snapshot path or None) of one upstream run directory.

    The snapshot's kimg is in its name (`network-snapshot-<kimg>.pkl`, rounded down); when the run snapshots every
    tick (training_options.json network_snapshot_ticks 1) the last stats.jsonl row is that snapshot's tick, and its
    `Progress/kimg` gives the kimg to the image."""
    snaps = [(int(m.group(1)), f) for f in os.listdir(run_dir) for m in [SNAPSHOT_RE.match(f)] if m]
    if not snaps:
        return 0.0, None
    name_kimg, fname = max(snaps)
    kimg = float(name_kimg)
    opts = read_json(os.path.join(run_dir, 'training_options.json')) or {}
    rows = smoke.read_stats(run_dir)
    last = rows[-1].get('Progress/kimg') if rows else None
    if opts.get('network_snapshot_ticks') == 1 and isinstance(last, dict) and math.floor(last['mean'] + 1e-9) == name_kimg:
        kimg = float(last['mean'])
    return kimg, os.path.join(run_dir, fname)


def role_snapshots(role_dir):
    """Every snapshot of one role, [{'kimg': kimg since the role's start, 'path'}] in training order: a segment
    resumed from the previous one's last snapshot counts on from that segment's length (segment_progress)."""
    out, offset = [], 0.0
    for d in segment_dirs(role_dir):
        names = sorted((int(m.group(1)), f) for f in os.listdir(d) for m in [SNAPSHOT_RE.match(f)] if m)
        out += [{'kimg': offset + k, 'path': os.path.join(d, f)} for k, f in names]
        if names:
            offset += segment_progress(d)[0]
    return out


def segment_seconds(run_dir, kimg):
    """Training seconds of one upstream run directory up to its snapshot at `kimg` (segment_progress's kimg: the
    snapshot name's whole kimg, or its tick's exact kimg): train.py's own Timing/total_sec at the last tick whose kimg
    rounds down to no more than that, in stats.jsonl; 0 without rows. Wall time: it includes any pause of the process."""
    times = [r['Timing/total_sec']['mean'] for r in smoke.read_stats(run_dir) if isinstance(r.get('Timing/total_sec'), dict)
             and isinstance(r.get('Progress/kimg'), dict) and math.floor(r['Progress/kimg']['mean'] + 1e-9) <= kimg + 1e-6]
    return times[-1] if times else 0.0


def role_state(role_dir, kimg):
    """What is on disk for one role: {'segments': [{'run_dir', 'kimg', 'snapshot'}], 'done_kimg', 'snapshot' (the
    latest), 'finished' (pair_run.json says it trained >= kimg and its snapshot exists), 'state' (that file)}."""
    segments = []
    for d in segment_dirs(role_dir):
        k, snap = segment_progress(d)
        segments.append({'run_dir': d, 'kimg': k, 'snapshot': snap})
    with_snapshots = [s for s in segments if s['snapshot']]
    state = read_json(os.path.join(role_dir, STATE_FILE))
    finished = bool(state and state.get('finished') and state.get('kimg', 0) >= kimg - 1e-9
                    and os.path.isfile(state.get('snapshot', '')))
    return {'segments': segments, 'done_kimg': sum(s['kimg'] for s in with_snapshots),
            'snapshot': state['snapshot'] if finished else (with_snapshots[-1]['snapshot'] if with_snapshots else None),
            'finished': finished, 'state': state}


def write_role_state(role_dir, kimg, snapshot, segments):
    state = {'finished': True, 'kimg': kimg, 'snapshot': snapshot,
             'segments': [{k: s[k] for k in ('run_dir', 'kimg', 'snapshot')} for s in segments]}
    with open(os.path.join(role_dir, STATE_FILE), 'w', encoding='utf-8') as f:
        json.dump(state, f, indent=2)
    return state

#----------------------------------------------------------------------------
# The train.py processes.

def role_args(common, role, spec_path, link_kwargs, outdir, kimg, resume):
    """train.py arguments of one segment of `role`."""
    args = smoke.merge_args(common, [f'--outdir={outdir}', f'--kimg={max(1, math.ceil(kimg))}'])
    if resume:
        args.append(f'--resume={resume}')
    if role == 'control':
        return args + [f'--loss={smoke.UPSTREAM_LOSS}']
    kwargs = {'spec': os.path.abspath(spec_path), **(link_kwargs or {})}
    return args + [f'--loss={smoke.LINK_LOSS}', '--loss-kwargs=' + json.dumps(kwargs, separators=(',', ':'))]


def is_progress_line(line):
    """Lines of train.py's output echoed without --verbose: ticks, resuming, the run directory, errors."""
    return line.startswith(('tick ', 'Resuming from', 'Output directory', 'Exiting', 'Traceback', 'Error', 'RuntimeError',
                            'ValueError', 'click.', 'Usage:')) or 'Error:' in line


class Segment:
    """One train.py process of a role: started now, output to `log_path` and (filtered) to echo."""

    def __init__(self, role, cmd, cwd, env, log_path, echo, verbose=False, timeout=None):
        self.role, self.cmd, self.log_path, self.echo, self.verbose = role, cmd, log_path, echo, verbose
        self.log = open(log_path, 'a', encoding='utf-8')
        self.log.write(f'\n$ cd {shlex.quote(cwd)} && {" ".join(shlex.quote(c) for c in cmd)}\n')
        self.log.flush()
        # A session (process group) of its own: train.py's data-loader workers and cpu_run's children are stopped
        # with it, and a terminal's Ctrl-C reaches only `linkgan pair`, which stops every group (train_roles).
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     bufsize=1, errors='replace', start_new_session=True)
        self.timed_out = False
        self.timer = threading.Timer(timeout, self._kill) if timeout else None
        if self.timer:
            self.timer.start()
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _kill(self):
        self.timed_out = True
        self.stop()

    def stop(self, grace=10.0):
        """Ends the process and everything it started: SIGTERM to its group, SIGKILL after `grace` seconds."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            try:                                # Then SIGKILL: the leader if it ignored SIGTERM, else its stragglers.
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass

    def _pump(self):
        for line in self.proc.stdout:
            self.log.write(line)
            self.log.flush()
            if self.verbose or is_progress_line(line):
                self.echo(f'[{self.role}] {line.rstrip()}')

    def wait(self):
        try:
            rc = self.proc.wait()
        except BaseException:
            self.stop()
            raise
        finally:
            if self.timer:
                self.timer.cancel()
            self.reader.join(timeout=60)        # The group is gone, so the pipe is at its end.
            self.proc.stdout.close()
            self.log.close()
        return 124 if self.timed_out else rc

    def tail(self, lines=25):
        with open(self.log_path, encoding='utf-8', errors='replace') as f:
            return ''.join(f.readlines()[-lines:])


def _env_for(role, plan, nimg, threads, parallel):
    smoke_opts = {**plan['smoke_opts'], 'nimg': nimg}
    env = smoke.train_env(smoke_opts, cpu=plan['cpu'], threads=threads)
    if parallel and not plan['cpu'] and torch.cuda.is_available():
        gpus = int(smoke.arg_value(plan['common'], 'gpus') or 1)
        visible = list(range(torch.cuda.device_count()))
        if len(visible) >= 2 * gpus:            # Two disjoint sets of GPUs; else both runs share them.
            first = ROLES.index(role) * gpus
            env['CUDA_VISIBLE_DEVICES'] = ','.join(map(str, visible[first:first + gpus]))
    return env


class Terminated(SystemExit):
    """Raised in the main thread when the process receives SIGTERM inside `terminate_raises` (exit status 143)."""


@contextlib.contextmanager
def terminate_raises():
    """SIGTERM raises Terminated inside (so cleanup runs) instead of ending the process at once; a no-op outside
    the main thread, where Python cannot install handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(128 + signum)
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def roles_to_train(out, kimg, echo):
    """{role: role_state} of the roles that have not finished `kimg` (a role whose snapshots already reach it is
    recorded as finished first)."""
    todo = {}
    for role in ROLES:
        role_dir = os.path.join(out, role)
        os.makedirs(role_dir, exist_ok=True)
        st = role_state(role_dir, kimg)
        if not st['finished'] and st['snapshot'] and st['done_kimg'] >= kimg - 1e-9:
            # Its snapshots already reach kimg (stopped after its last snapshot, before pair_run.json was written):
            # the latest snapshot is the run, with the length it reached.
            write_role_state(role_dir, st['done_kimg'], st['snapshot'], st['segments'])
            st = role_state(role_dir, kimg)
        if st['finished']:
            echo(f'{role}: finished earlier ({st["state"]["kimg"]:g} kimg, {st["snapshot"]}): not trained again')
        else:
            todo[role] = st
    return todo


def role_runs(out, kimg, trained_now):
    """{role: the pair.json 'runs' entry}: its segments' run directories, final snapshot, length, training seconds,
    whether it trained in this call (`trained_now`: a set of roles), s/kimg and the link statistics."""
    runs = {}
    for role in ROLES:
        st = role_state(os.path.join(out, role), kimg)
        state = st['state'] or {}
        trained = [s for s in st['segments'] if s['snapshot']]
        run_dirs = [s['run_dir'] for s in trained]
        rows = [r for d in run_dirs for r in smoke.read_stats(d)]
        runs[role] = {'run_dirs': run_dirs, 'snapshot': st['snapshot'], 'kimg': state.get('kimg', kimg),
                      'seconds': sum(segment_seconds(s['run_dir'], s['kimg']) for s in trained),
                      'trained_now': role in trained_now,
                      'sec_per_kimg': smoke.sec_per_kimg(rows), 'link_stats': smoke.link_stats(rows)}
    return runs


def train_roles(out, plan, kimg, spec, link_kwargs, parallel, threads, timeout, echo, verbose):
    """Trains whatever each role still lacks (step 2-3); returns {role: runs entry} (role_runs)."""
    todo = roles_to_train(out, kimg, echo)
    if threads is None and plan['cpu']:
        threads = max(1, (os.cpu_count() or 2) // (2 if parallel and len(todo) > 1 else 1))
    segments = {}

    def start(role, st):
        remaining = kimg - st['done_kimg']
        resume = st['snapshot'] or plan['settings']['resume']
        nimg = max(1, int(round(remaining * 1000)))
        args = role_args(plan['common'], role, spec, link_kwargs, os.path.join(out, role), remaining, resume)
        cmd = smoke.build_command(plan['det'].code_dir, args)
        what = (f'resuming from {st["snapshot"]} ({st["done_kimg"]:.3g} kimg done), {remaining:.3g} kimg to go'
                if st['snapshot'] else f'{remaining:g} kimg')
        echo(f'{role}: {what}; log {os.path.join(out, role, "train.log")}')
        return Segment(role, cmd, plan['det'].code_dir, _env_for(role, plan, nimg, threads, parallel),
                       os.path.join(out, role, 'train.log'), echo, verbose, timeout)

    def finish(role, seg):
        rc = seg.wait()
        if rc != 0:
            raise LinkganError(f'{role}: train.py exited with status {rc}' + (' (timed out)' if rc == 124 else '')
                               + f'; the end of {seg.log_path}:\n{seg.tail()}\nRun `linkgan pair` again with the '
                               'same arguments to resume from the last snapshot.')
        st = role_state(os.path.join(out, role), kimg)
        if st['snapshot'] is None:
            raise LinkganError(f'{role}: train.py finished without writing a snapshot; see {seg.log_path}')
        write_role_state(os.path.join(out, role), max(kimg, st['done_kimg']), st['snapshot'], st['segments'])
        segments[role] = seg

    started = {}
    try:
        with terminate_raises():
            if parallel:
                started.update((role, start(role, st)) for role, st in todo.items())
                errors = []
                for role, seg in started.items():
                    try:
                        finish(role, seg)
                    except LinkganError as e:
                        errors.append(e)
                if errors:
                    raise errors[0] if len(errors) == 1 else LinkganError('\n\n'.join(str(e) for e in errors))
            else:
                for role, st in todo.items():
                    started[role] = start(role, st)
                    finish(role, started[role])
    except BaseException:               # Ctrl-C, SIGTERM, an error: no train.py (or its children) outlives the pair.
        for seg in started.values():
            seg.stop()
        raise
    return role_runs(out, kimg, set(segments))

#----------------------------------------------------------------------------
