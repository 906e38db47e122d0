"""What `linkgan compare` compares, from what its options name: the networks (labelled, each with its role for the
compared link), the one-link spec, the given direction files matched to their networks, the real images of demo
networks, and which method groups were asked for. Every problem names its option (OptionError, UsageProblem).
"""

import json
import os

import torch

from linkgan_plugin.analysis.datasets import DatasetError, load_images
from linkgan_plugin.analysis.inputs import device_from_option, network_from_option
from linkgan_plugin.analysis.network_loading import read_training_options, resolve_spec
from linkgan_plugin.checks import option_errors, OptionError, SpecError, UsageProblem
from linkgan_plugin.demo.scenes import scene_images
from linkgan_plugin.demo.evaluation import REAL_SEED_OFFSET
from linkgan_plugin.editing import directions_file, lelsd, masking
from linkgan_plugin.spec import load_spec
from linkgan_plugin.workflows.compare_methods import is_resefa, METHOD_GROUPS

#----------------------------------------------------------------------------

def network_role(net, link):
    """'linked' when the network was trained with this link (its stored spec, LinkLoss with the link in
    training_options.json, or a checkpoint flagged linked that stores no spec to check), else 'control'. A checkpoint
    flagged linked was trained with its own spec, which need not hold this link."""
    if net.info.get('linked') is False:
        return 'control'
    if net.info.get('linked') is True and not isinstance(net.checkpoint_spec, dict):
        return 'linked'
    candidates = [net.checkpoint_spec]
    try:
        options = read_training_options(net)
    except Exception:
        options = None
    if options and 'LinkLoss' in str((options.get('loss_kwargs') or {}).get('class_name', '')):
        try:
            spec, _ = resolve_spec(net)
            candidates.append(spec.to_dict())
        except Exception:
            pass
    for spec in candidates:
        if isinstance(spec, dict):
            for l in spec.get('links', []):
                if l.get('name') == link.name and _axes_list(l.get('axes')) == list(link.axes):
                    return 'linked'
    return 'control'


def _axes_list(form):
    if isinstance(form, str) and ':' in form:
        a, b = form.split(':')
        return list(range(int(a), int(b)))
    if isinstance(form, dict):
        return list(range(form['start'], form['stop']))
    return sorted(form) if isinstance(form, list) else None


def unique_labels(paths):
    """Short labels (file stems) for networks, made unique with a suffix."""
    labels, seen = [], {}
    for p in paths:
        stem = os.path.splitext(os.path.basename(p))[0] or 'network'
        seen[stem] = seen.get(stem, 0) + 1
        labels.append(stem if seen[stem] == 1 else f'{stem}-{seen[stem]}')
    return labels


def demo_real_images(net, count, seed):
    """Real scenes for a demo checkpoint (its settings name the scene, resolution and cells), or None."""
    settings = net.info.get('settings') if isinstance(net.info.get('settings'), dict) else None
    if net.kind != 'demo' or not settings or 'resolution' not in settings:
        return None
    if settings.get('scene', 'cells') == 'cells' and 'cells' not in settings:
        return None
    g = torch.Generator().manual_seed(seed + REAL_SEED_OFFSET)
    return scene_images(settings, count, generator=g)


def parse_method_groups(value):
    """'linkgan,lelsd,random' (or a list) -> ('linkgan', 'lelsd', 'random'): names of METHOD_GROUPS, each at most
    once, at least one, kept in METHOD_GROUPS' order; ValueError saying what is wrong otherwise."""
    names = list(value) if isinstance(value, (list, tuple)) else [v.strip() for v in str(value).split(',') if v.strip()]
    unknown = [v for v in names if v not in METHOD_GROUPS]
    if unknown:
        raise ValueError(f'{unknown[0]!r} is not a method; choose from {", ".join(METHOD_GROUPS)} (comma-separated)')
    if not names or len(set(names)) != len(names):
        raise ValueError(f'{value!r}: name each method at most once, at least one of {", ".join(METHOD_GROUPS)}')
    return tuple(g for g in METHOD_GROUPS if g in names)


def check_groups(groups, match, within_link, given):
    """OptionError naming --methods for options that need a group it leaves out (given: {label: [LelsdResult]})."""
    def fail(message):
        raise OptionError('--methods', message)
    if 'linkgan' not in groups and match is None:
        fail('without linkgan there is no LinkGAN resample at t = 1 to match at: give --match')
    files = [d for ds in given.values() for d in ds]
    if 'lelsd' not in groups and (within_link or any(not is_resefa(d) for d in files)):
        fail('--within-link and LELSD --directions files need lelsd among the methods')
    if 'resefa' not in groups and any(is_resefa(d) for d in files):
        fail('ReSeFa --directions files need resefa among the methods')


def load_networks(paths, upstream, device):
    """([(label, LoadedNetwork, GeneratorAdapter)], torch.device) of the network files, labels unique_labels'."""
    dev = device_from_option(device)
    out = []
    for path, label in zip(paths, unique_labels(paths)):
        net, gen = network_from_option(path, upstream, dev, option='--network')
        out.append((label, net, gen))
    return out, dev


def resolve_link_spec(networks, spec, link_name, region):
    """The one-link spec compared: --spec (else the first network's own spec), link --link (else the first),
    region replaced by --region when given."""
    w_dim = networks[0][2].w_dim
    if spec is not None:
        with option_errors('--spec', SpecError):
            full = load_spec(spec, w_dim=w_dim)
    else:
        full = None
        for _, net, _ in networks:
            try:
                full, _ = resolve_spec(net, w_dim=w_dim)
                break
            except Exception:
                continue
        if full is None:
            raise UsageProblem('no link spec: none of the networks stores one; pass --spec FILE')
    name = link_name or full.names[0]
    with option_errors('--link'):
        one = full.select([name])
    if region is not None:
        with option_errors('--region', SpecError):
            reg = masking.region_spec(region, name=name, w_dim=w_dim).links[0].region
        l = one.links[0]
        one = load_spec({'links': [{'name': l.name, 'axes': l.to_dict()['axes'], 'region': reg.to_dict()}]}, w_dim=w_dim)
    for label, _, gen in networks:
        if gen.w_dim != w_dim:
            raise OptionError('--network', f'{label}: w_dim {gen.w_dim} differs from the first network\'s {w_dim}')
    return one


def match_directions(files, networks, link_spec):
    """{label: [LelsdResult]} of the --directions files, each matched to its network by hash; OptionError for a file
    of another network or region."""
    by_hash = {lelsd.network_hash(gen.G): label for label, _, gen in networks}
    out = {}
    for path in files:
        with option_errors('--directions'):
            res = directions_file.load(path, kind='directions')
        label = by_hash.get(res.network_hash)
        if label is None:
            raise OptionError('--directions', f'{path}: found on network {res.network_hash} ({res.network_path}), '
                                              'which is not among --network')
        if res.region != link_spec.links[0].region.to_dict():
            raise OptionError('--directions', f'{path}: directions of region {json.dumps(res.region)}, but the compared '
                                              f'region is {json.dumps(link_spec.links[0].region.to_dict())}')
        out.setdefault(label, []).append(res)
    return out


def real_images_of(networks, data, count, seed):
    """{label: real images [count, C, R, R]} for the quality of each network's edits: the first `count` of `data`
    (a folder or zip) in load_images' seeded order, else a demo checkpoint's own scenes; networks with neither are
    left out (no quality for them)."""
    real = {}
    for label, net, gen in networks:
        if data:
            with option_errors('--data', DatasetError):
                real[label] = load_images(data, count, gen.img_resolution, seed=seed)
        else:
            imgs = demo_real_images(net, count, seed)
            if imgs is not None:
                real[label] = imgs
    return real

#----------------------------------------------------------------------------
