"""`linkgan patch`: add `--loss`/`--loss-kwargs` (and, optionally, modern-torch fixes) to an upstream checkout.

The patches live in `patches/` with a `manifest.json` that says, per upstream (sg2ada, sg3, eg3d): the pinned
commit, where the code lives (eg3d: `eg3d/`), the files that identify it, and its patches in order, each required
or optional ("compat"). The engine is data-driven so that tests can point it at their own patch directory.

Guarantees:
  1. Detection by files, confirmed by the commit in a git checkout; anything else is refused.
  2. All or nothing: every selected patch is checked with `git apply --check` before any is applied, and a
     failure midway is rolled back, so a tree that does not match (a modified fork) is left unchanged.
  3. Idempotent: an applied patch (its reverse applies cleanly) is reported and skipped.
  4. Works on a git checkout and on a plain directory (git is used only as a patch tool).
"""

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from linkgan_plugin.checks import LinkganError, UsageProblem

#----------------------------------------------------------------------------
# Where the patches are.

PATCH_DIR_ENV = 'LINKGAN_PATCH_DIR'


def default_patch_dir() -> str:
    """The patch directory: $LINKGAN_PATCH_DIR, then the installed copy, then the source tree's `patches/`."""
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get(PATCH_DIR_ENV), os.path.join(here, '_patches'), os.path.join(os.path.dirname(here), 'patches')]
    for cand in candidates:
        if cand and os.path.isfile(os.path.join(cand, 'manifest.json')):
            return cand
    raise PatchError('cannot find the patch directory (manifest.json) in ' + ', '.join(c for c in candidates if c) +
                     f'; set {PATCH_DIR_ENV} to the plugin\'s patches/ directory')

#----------------------------------------------------------------------------
# Manifest.

class PatchError(LinkganError):
    """A user-facing failure: unknown tree, patch does not apply, git missing."""


@dataclass
class PatchInfo:
    file: str           # Path relative to the patch directory.
    path: str           # Absolute path.
    required: bool      # False: part of the optional compat set.
    purpose: str

    @property
    def name(self) -> str:
        return self.file


@dataclass
class UpstreamInfo:
    key: str            # 'sg2ada' | 'sg3' | 'eg3d'
    name: str
    repo: str
    commit: str         # Full hash of the pinned commit.
    code_dir: str       # Where train.py lives, relative to the repository root ('.' or 'eg3d').
    files: List[str]    # Files (relative to code_dir) that must exist.
    absent: List[str]   # Files (relative to code_dir) that must not exist (tell sg2ada/sg3/eg3d apart).
    patches: List[PatchInfo] = field(default_factory=list)


def load_manifest(patch_dir: Optional[str] = None) -> Dict[str, UpstreamInfo]:
    patch_dir = os.path.abspath(patch_dir or default_patch_dir())
    with open(os.path.join(patch_dir, 'manifest.json'), encoding='utf-8') as f:
        raw = json.load(f)
    manifest = {}
    for key, entry in raw.items():
        patches = [PatchInfo(file=p['file'], path=os.path.join(patch_dir, p['file']), required=bool(p.get('required', False)),
                             purpose=p.get('purpose', '')) for p in entry['patches']]
        manifest[key] = UpstreamInfo(key=key, name=entry.get('name', key), repo=entry.get('repo', ''), commit=entry.get('commit', ''),
                                     code_dir=entry.get('code_dir', '.'), files=list(entry['files']), absent=list(entry.get('absent', [])),
                                     patches=patches)
    return manifest

#----------------------------------------------------------------------------
# Detection.

@dataclass
class Detection:
    upstream: UpstreamInfo
    code_dir: str               # Absolute directory holding train.py.
    git_top: Optional[str]      # Top of the enclosing git work tree, if any.
    head: Optional[str]         # HEAD commit when code_dir is in a git checkout.

    @property
    def commit_matches(self) -> Optional[bool]:
        if self.head is None:
            return None
        return self.head.startswith(self.upstream.commit) or self.upstream.commit.startswith(self.head)

    def describe(self) -> str:
        s = f'{self.upstream.name} ({self.upstream.key}) in {self.code_dir}'
        if self.head is not None:
            s += f', git HEAD {self.head[:12]}'
            s += ' (the pinned commit)' if self.commit_matches else f' (patches were made for {self.upstream.commit[:12]})'
        return s


def _git(args, cwd, check=False):
    if shutil.which('git') is None:
        raise PatchError('`git` is not installed; it is needed to apply the patches (`git apply` also works outside git checkouts)')
    env = dict(os.environ, GIT_TERMINAL_PROMPT='0', LC_ALL='C')
    proc = subprocess.run(['git'] + list(args), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and proc.returncode != 0:
        raise PatchError(f'git {" ".join(args)} failed: {proc.stderr.strip()}')
    return proc


def _git_top_and_head(path):
    proc = _git(['rev-parse', '--show-toplevel'], cwd=path)
    if proc.returncode != 0:
        return None, None
    top = os.path.realpath(proc.stdout.strip())
    head = _git(['rev-parse', 'HEAD'], cwd=path)
    return top, (head.stdout.strip() if head.returncode == 0 else None)


def _matches(upstream: UpstreamInfo, code_dir: str) -> bool:
    return (all(os.path.isfile(os.path.join(code_dir, f)) for f in upstream.files)
            and not any(os.path.exists(os.path.join(code_dir, f)) for f in upstream.absent))


def detect(path: str, manifest: Optional[Dict[str, UpstreamInfo]] = None, patch_dir: Optional[str] = None) -> Detection:
    """Which upstream does `path` hold? Accepts the repository root or the code directory (eg3d/)."""
    manifest = manifest if manifest is not None else load_manifest(patch_dir)
    path = os.path.realpath(os.path.expanduser(path))
    if not os.path.isdir(path):
        raise PatchError(f'{path}: not a directory')
    found = []
    for up in manifest.values():
        for cand in [path, os.path.join(path, up.code_dir)] if up.code_dir != '.' else [path]:
            if _matches(up, cand):
                found.append((up, os.path.realpath(cand)))
                break
    top, head = _git_top_and_head(path)
    if len(found) > 1 and head is not None:  # Let the commit break a tie.
        by_commit = [(up, d) for up, d in found if head.startswith(up.commit)]
        found = by_commit or found
    if not found:
        known = ', '.join(f'{u.key} ({u.repo} @ {u.commit[:12]})' for u in manifest.values())
        raise PatchError(f'{path}: not a checkout of a supported upstream (expected one of: {known}). '
                         f'Looked for files such as train.py, training/training_loop.py; for EG3D pass the repository root or its eg3d/ directory')
    if len(found) > 1:
        raise PatchError(f'{path}: ambiguous, looks like ' + ' and '.join(u.key for u, _ in found))
    up, code_dir = found[0]
    if top is not None and not (code_dir == top or code_dir.startswith(top + os.sep)):
        top = None
    return Detection(upstream=up, code_dir=code_dir, git_top=top, head=head)

#----------------------------------------------------------------------------
# Applying.

APPLIED, UNAPPLIED, CONFLICT = 'applied', 'not applied', 'does not apply'


def _apply_args(det: Detection, patch: PatchInfo, *extra):
    """git apply from the right place: inside a git work tree, paths are taken relative to its top
    (from a subdirectory, git apply silently skips them), so run at the top with --directory."""
    args = ['apply', '--whitespace=nowarn'] + list(extra)
    cwd = det.code_dir
    if det.git_top is not None:
        rel = os.path.relpath(det.code_dir, det.git_top)
        cwd = det.git_top
        if rel != '.':
            args.append(f'--directory={rel}')
    return args + [patch.path], cwd


def _run_apply(det, patch, *extra):
    args, cwd = _apply_args(det, patch, *extra)
    return _git(args, cwd=cwd)


def _hunks(patch_path):
    """{(file, old_start): (index, header)} for every hunk of a patch."""
    out, cur, idx = {}, None, 0
    with open(patch_path, encoding='utf-8') as f:
        for line in f:
            m = re.match(r'^\+\+\+ b/(\S+)', line)
            if m:
                cur, idx = m.group(1), 0
                continue
            m = re.match(r'^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@(.*)$', line)
            if m and cur is not None:
                idx += 1
                out[(cur, int(m.group(1)))] = (idx, line.strip())
    return out


def explain_failure(det: Detection, patch: PatchInfo, stderr: str) -> str:
    """Turns git apply's stderr into 'file, hunk #k at line n (header)' lines."""
    rel = os.path.relpath(det.code_dir, det.git_top) if det.git_top else '.'
    strip = '' if rel == '.' else rel.rstrip('/') + '/'
    hunks = _hunks(patch.path)
    reasons = []
    for m in re.finditer(r'patch failed: (\S+):(\d+)', stderr):
        fname, line = m.group(1), int(m.group(2))
        fname = fname[len(strip):] if strip and fname.startswith(strip) else fname
        idx, header = hunks.get((fname, line), (None, ''))
        hunk = f'hunk #{idx} at line {line}' if idx else f'the hunk at line {line}'
        reasons.append(f'{fname}: {hunk} does not match ({header})' if header else f'{fname}: {hunk} does not match')
    for m in re.finditer(r'error: (\S+): (No such file or directory|does not exist in index|already exists in working directory)', stderr):
        fname = m.group(1)
        fname = fname[len(strip):] if strip and fname.startswith(strip) else fname
        reasons.append(f'{fname}: {m.group(2).lower()}')
    if not reasons:
        reasons.append(stderr.strip() or 'git apply failed')
    return '; '.join(dict.fromkeys(reasons))


def patch_state(det: Detection, patch: PatchInfo):
    """(state, detail): APPLIED when the reverse applies, UNAPPLIED when the patch applies, else CONFLICT."""
    fwd = _run_apply(det, patch, '--check', '-v')
    if fwd.returncode == 0 and 'Skipped patch' not in fwd.stderr:
        return UNAPPLIED, ''
    rev = _run_apply(det, patch, '--check', '--reverse')
    if rev.returncode == 0:
        return APPLIED, ''
    return CONFLICT, explain_failure(det, patch, fwd.stderr)


def select_patches(up: UpstreamInfo, compat: bool) -> List[PatchInfo]:
    return [p for p in up.patches if p.required or compat]


@dataclass
class PatchReport:
    detection: Detection
    states: Dict[str, str]          # patch file -> state before the action
    changed: List[str]              # patch files applied (or reverted) by this call
    ok: bool
    lines: List[str]


def run_patch(path: str, check: bool = False, revert: bool = False, compat: bool = True,
              patch_dir: Optional[str] = None) -> PatchReport:
    """Applies (or checks, or reverts) the patch set for the upstream in `path`. Raises PatchError, leaving the
    tree unchanged, when a selected patch neither applies nor is already applied; UsageProblem for check and revert
    together."""
    if check and revert:
        raise UsageProblem('--check and --revert are mutually exclusive')
    det = detect(path, patch_dir=patch_dir)
    lines = [f'Detected {det.describe()}.']
    if det.commit_matches is False:
        lines.append(f'Warning: not the pinned commit {det.upstream.commit[:12]}; the patches are tried anyway.')
    selected = select_patches(det.upstream, compat)
    states, conflicts = {}, []
    for p in selected:
        state, detail = patch_state(det, p)
        states[p.file] = state
        if state == CONFLICT:
            conflicts.append(f'  {p.file}: {detail}')
    if conflicts:
        raise PatchError('\n'.join(lines + [f'These patches neither apply nor are already applied to {det.code_dir} '
                                            '(a modified fork, or another commit); nothing was changed:'] + conflicts))
    width = max(len(p.file) for p in selected)
    tag = lambda p: 'required' if p.required else 'compat'

    if check:
        for p in selected:
            lines.append(f'  {p.file:<{width}}  {states[p.file]:<11}  ({tag(p)}: {p.purpose})')
        ok = all(states[p.file] == APPLIED for p in selected)
        lines.append('All selected patches are applied.' if ok else 'Some patches are not applied; run `linkgan patch DIR` to apply them.')
        return PatchReport(det, states, [], ok, lines)

    if revert:
        todo = [p for p in reversed(selected) if states[p.file] == APPLIED]
        done = _transaction(det, todo, reverse=True)
        for p in selected:
            lines.append(f'  {p.file:<{width}}  ' + ('reverted' if p in todo else 'was not applied'))
        lines.append('Reverted.' if todo else 'Nothing to revert.')
        return PatchReport(det, states, [p.file for p in done], True, lines)

    todo = [p for p in selected if states[p.file] == UNAPPLIED]
    done = _transaction(det, todo, reverse=False)
    for p in selected:
        lines.append(f'  {p.file:<{width}}  ' + ('applied' if p in todo else 'already applied') + f'  ({tag(p)}: {p.purpose})')
    lines.append('Patched: train.py now takes --loss CLASS and --loss-kwargs JSON|@FILE.' if todo else 'Already applied; nothing to do.')
    return PatchReport(det, states, [p.file for p in done], True, lines)


def _transaction(det: Detection, todo: List[PatchInfo], reverse: bool) -> List[PatchInfo]:
    """Applies `todo` in order; on a failure, undoes what was done and raises."""
    extra = ('--reverse',) if reverse else ()
    done = []
    for p in todo:
        proc = _run_apply(det, p, *extra)
        if proc.returncode != 0:
            for q in reversed(done):
                _run_apply(det, q, *(() if reverse else ('--reverse',)))
            raise PatchError(f'{p.file}: ' + explain_failure(det, p, proc.stderr) + '; the tree was restored, nothing was changed')
        done.append(p)
    return done


def is_loss_patched(path: str, patch_dir: Optional[str] = None):
    """(Detection, bool): whether the required patches are applied to the upstream in `path`."""
    det = detect(path, patch_dir=patch_dir)
    ok = all(patch_state(det, p)[0] == APPLIED for p in det.upstream.patches if p.required)
    return det, ok

#----------------------------------------------------------------------------