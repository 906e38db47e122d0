"""`LinkLoss`: the LinkGAN regularizer as a drop-in loss for upstream train.py (`--loss=linkgan_plugin.LinkLoss`).

Upstream builds it exactly like its own loss:
    sg2ada:    LinkLoss(device, G_mapping, G_synthesis, D, augment_pipe, **loss_kwargs)
    sg3, eg3d: LinkLoss(device, G, D, augment_pipe, **loss_kwargs)

loss_kwargs = the link spec (`spec=` a dict or a JSON file path, or the spec's fields inline: `links=`, `alpha=`,
...) + `base=` (the wrapped loss class, default 'training.loss.StyleGAN2Loss' of the running upstream checkout)
+ `link_pass=` (LINK_PASSES: how the link term is computed, not what: both give the same gradients up to float
rounding) + everything else, forwarded to the base loss untouched (r1_gamma, style_mixing_prob, pl_weight, ...).

Schedule. LinkLoss counts training iterations (a new one starts when `cur_nimg` changes or, for sg2ada, when a
G phase follows a D phase). Every `interval`-th iteration is a link iteration: in the first G phase that runs
(Gmain, Greg or Gboth), every round adds `interval * mean(link penalty)` to G's gradients; with `fake_to_D`,
one perturbed image per sample is also scored by D (G adversarial term), and the next Dmain/Dboth phase adds
those images to D's fake loss. Everything the base loss does is delegated unchanged.

Link passes (`link_pass=`):
    'batched'   (default) regularizer.link_penalty: all 1 + 2K renders of the link pass, then one backward; activation
                memory grows with the number of links K.
    'per_link'  regularizer.PerLinkPass: x rendered once, then each link rendered, measured and backpropagated before
                the next one (memory of about three renders whatever K). The adversarial term on perturbed fakes needs
                D's gradient w.r.t. fakes drawn from all 2K renders, known only after the last link: the pass keeps
                detached copies of the perturbed images, D scores the drawn ones (detached leaves: the same values,
                the same RNG draws, the same fakes queued for the D phase), and each perturbed render a fake was
                drawn from is rendered again (same RNG state) and backpropagated with D's gradient. Gradients of
                the synthesis collect in a detached copy of ws and go through the mapping network in one last
                backward. DDP (sg2ada's `sync`): every render runs unsynced except those of the last synthesis
                backward (the last re-render, or the last link without fake_to_D), and the mapping's one backward
                follows its synced forward, so each module all-reduces once, in its last backward, as upstream's
                no_sync convention expects.
"""


import torch
import torch.nn.functional as F
from torch.profiler import record_function

from linkgan_plugin.regularizer import BoundSpec, link_penalty, PerLinkPass, sample_link_noise
from linkgan_plugin.checks import check_argument, Choice, SpecError
from linkgan_plugin.ops import paths_run
from linkgan_plugin.render import RngReplay
from linkgan_plugin.spec import load_spec, split_loss_kwargs
from linkgan_plugin.upstream.flavours import make_flavour
from linkgan_plugin.upstream.stats import report

DEFAULT_BASE = 'training.loss.StyleGAN2Loss'
LINK_PASSES = ('batched', 'per_link')  # See the module docstring.
_paths_logged = set()               # (device, path, reason) of the masked-difference op logged in this process (run).

#----------------------------------------------------------------------------

def resolve_class(name):
    """Imports 'pkg.module.Class' (or 'pkg.module:Class') and returns the class; clear error otherwise, the same
    whatever was imported before. A class passes through (Python API; upstream always passes names).

    Raises:
        TypeError (not a string, or names something that is not a class), ValueError (no module part, or names a
        module), ImportError (the module cannot be imported or has no such attribute).
    """
    import importlib.util
    import types
    if isinstance(name, type):
        return name
    if not isinstance(name, str) or not name.strip():
        shown = repr(name) if isinstance(name, str) else type(name).__name__
        raise TypeError(f'LinkLoss: base must be a class name like {DEFAULT_BASE!r}, got {shown}')
    shown = repr(name) if len(name) <= 200 else repr(name[:200] + '...')
    module_name, _, attr = name.strip().replace(':', '.').rpartition('.')
    if not module_name or not attr:
        missing = 'module' if not module_name else 'class'
        raise ValueError(f'LinkLoss: base {shown} has no {missing} part; name the class with its module, like {DEFAULT_BASE!r}')
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # ImportError, and whatever the module raises while it runs.
        hint = ' (run train.py from an upstream checkout, or pass base=...)' if name == DEFAULT_BASE else ''
        raise ImportError(f'LinkLoss: cannot import base loss {shown}: {type(e).__name__}: {e}{hint}') from None
    cls = getattr(module, attr, None)
    if cls is None or isinstance(cls, types.ModuleType):    # A submodule is an attribute only once imported.
        try:
            is_module = importlib.util.find_spec(f'{module_name}.{attr}') is not None
        except (ImportError, ValueError):
            is_module = False
        if is_module:
            raise ValueError(f'LinkLoss: base {shown} names a module, not a class; name the class in it, like '
                             f'{DEFAULT_BASE!r}')
        raise ImportError(f'LinkLoss: module {module_name!r} has no base loss class {attr!r}')
    if not isinstance(cls, type):
        raise TypeError(f'LinkLoss: base {shown} is a {type(cls).__name__}, not a class')
    return cls


class LinkLoss:
    """Wraps an upstream loss and adds the LinkGAN term on its own lazy schedule. See module docstring."""

    def __init__(self, device, G=None, D=None, augment_pipe=None, G_mapping=None, G_synthesis=None,
                 link_pass='batched', **kwargs):
        self.link_pass = check_argument('LinkLoss: link_pass', link_pass, Choice(LINK_PASSES))
        spec_source, base_name, base_kwargs = split_loss_kwargs(kwargs)
        if spec_source is None:
            raise SpecError(['spec: LinkLoss needs a link spec: pass spec=FILE_OR_DICT or links=[...] in --loss-kwargs'])
        spec = load_spec(spec_source)                       # Fail on a bad spec before anything heavy.
        if self.link_pass == 'per_link' and (spec.grad_ratio is not None or spec.log_grad_ratio):
            raise SpecError(['grad_ratio: the adaptive weight (and log_grad_ratio) needs link_pass "batched": '
                             '"per_link" backpropagates each link before the weight is known'])
        base_cls = resolve_class(base_name or DEFAULT_BASE)
        nets = dict(G_mapping=G_mapping, G_synthesis=G_synthesis) if G_mapping is not None or G_synthesis is not None else dict(G=G)
        self.base = base_cls(device=device, D=D, augment_pipe=augment_pipe, **nets, **base_kwargs)
        self.flavour = make_flavour(D=D, base=self.base, **nets)
        self.device = torch.device(device)
        self.spec = load_spec(spec, w_dim=self.flavour.w_dim, resolution=self.flavour.img_resolution)
        self.bound = BoundSpec(self.spec, self.flavour.w_dim)

        self.iteration = -1             # Index of the current training iteration (-1: none seen yet).
        self.link_steps = 0             # Number of link iterations so far (each may span several rounds).
        self._last_phase = None
        self._last_nimg = None
        self._link_phase = None         # The G phase that carries the link term in this iteration.
        self._fakes_for_D = []          # Detached perturbed images (and cameras) waiting for Dmain.
        self._alpha_scale = None        # [w_dim] per-axis std of W, for alpha_mode='w_std'.

    def __getattr__(self, name):
        # Delegate everything else (run_G, run_D, pl_mean, r1_gamma, ...) to the base loss.
        base = self.__dict__.get('base')
        if base is None:
            raise AttributeError(name)
        return getattr(base, name)

    #------------------------------------------------------------------------
    # Schedule.

    def _advance(self, phase, cur_nimg):
        new_iteration = (self._last_phase is None
                         or (cur_nimg is not None and cur_nimg != self._last_nimg)
                         or (phase[0] == 'G' and self._last_phase[0] == 'D'))
        if new_iteration:
            self.iteration += 1
            self._link_phase = None
            self._fakes_for_D = []
        self._last_phase, self._last_nimg = phase, cur_nimg

    @property
    def is_link_iteration(self):
        return self.iteration % self.spec.interval == 0

    #------------------------------------------------------------------------

    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, *args, **kwargs):
        """Upstream's entry point: sg2ada (…, sync, gain); sg3/eg3d (…, gain, cur_nimg)."""
        sync, gain, cur_nimg = self.flavour.parse_call(args, kwargs)
        self._advance(phase, cur_nimg)
        do_link = False
        do_fake_D = False
        if self.is_link_iteration:
            if phase[0] == 'G' and self._link_phase in (None, phase):
                if self._link_phase is None:
                    self.link_steps += 1
                self._link_phase = phase
                do_link = True
            elif phase in ('Dmain', 'Dboth') and self._fakes_for_D:
                do_fake_D = True
        # The link pass (or the extra D term) runs last in this round, so it carries the DDP sync.
        base_sync = sync and not (do_link or do_fake_D)
        self.flavour.call_base(self.base, phase, real_img, real_c, gen_z, gen_c, base_sync, gain, cur_nimg)
        if do_link:
            with record_function('linkgan:link pass'):
                self._accumulate_link(gen_z, gen_c, sync, cur_nimg)
        if do_fake_D:
            with record_function('linkgan:D on fakes'):
                self._accumulate_fakes_for_D(sync, gain, cur_nimg)

    #------------------------------------------------------------------------

    def _accumulate_link(self, gen_z, gen_c, sync, cur_nimg):
        spec, flavour = self.spec, self.flavour
        n = max(1, gen_z.shape[0] // spec.batch_shrink)
        z, c = gen_z[:n], gen_c[:n]
        camera = flavour.link_camera(c, spec.eg3d_camera)
        if spec.alpha_mode == 'w_std' and self._alpha_scale is None:
            self._alpha_scale = self.estimate_w_std(gen_c)

        ws = flavour.map(z, flavour.mapping_condition(camera, self.base), sync)
        nimg = cur_nimg if cur_nimg is not None else 0
        paths_before = paths_run()
        options = dict(targets=flavour.masked_outputs(spec), primary=flavour.primary_output,
                       noise=self.perturbation_directions(z, ws, camera), alpha_scale=self._alpha_scale)
        if self.link_pass == 'per_link':
            terms = self._per_link_pass(ws, camera, nimg, sync, gen_z.shape[0], options)
        else:
            terms = link_penalty(flavour.synthesizer(camera, nimg, sync), ws, self.bound, **options)
            total = terms.loss.mean() * spec.interval
            adv = None
            if spec.fake_to_D:
                with record_function('linkgan:D on fakes'):
                    fakes, fake_camera, _ = self._pick_perturbed(terms, camera, count=gen_z.shape[0])
                    adv = self._adversarial(fakes, fake_camera, nimg)
            if spec.grad_ratio is not None or spec.log_grad_ratio:
                with record_function('linkgan:grad ratio'):
                    total = total * self._gradient_weight(total, adv, terms, camera, nimg)
            with record_function('linkgan:backward'):
                (total if adv is None else total + adv).backward()
        self._report(terms)
        self._report_kernel_paths(paths_before)

    def _per_link_pass(self, ws, camera, nimg, sync, count, options):
        """The 'per_link' pass (module docstring): accumulates the gradients `_accumulate_link`'s batched branch
        does, up to float rounding, and queues the same perturbed fakes for D. Returns the detached LinkTerms."""
        spec, flavour, K = self.spec, self.flavour, self.bound.num_links
        local = flavour.synthesizer(camera, nimg, sync=False)
        synced = flavour.synthesizer(camera, nimg, sync)
        ws_leaf = ws.detach().requires_grad_(ws.requires_grad)
        lp = PerLinkPass(local, ws_leaf, self.bound, keep_renders=spec.fake_to_D, **options)
        for i in range(K):
            last = i == K - 1 and not spec.fake_to_D
            lp.link(i, spec.interval, synthesize=synced if last else local, last=last)
        terms = lp.terms()
        if spec.fake_to_D:
            with record_function('linkgan:D on fakes'):
                fakes, fake_camera, which = self._pick_perturbed(terms, camera, count)     # Leaves: D's gradient.
                fakes = {k: v.requires_grad_() for k, v in fakes.items()} if isinstance(fakes, dict) \
                    else fakes.requires_grad_()
                adv = self._adversarial(fakes, fake_camera, nimg)
            after = RngReplay(ws.device)           # Where the batched pass leaves the RNG; re-renders rewind it.
            with record_function('linkgan:backward'):
                adv.backward()                      # D's gradient w.r.t. the fakes (and D's, as the batched pass).
            variants = sorted({v for v, _ in which})
            for j, v in enumerate(variants):
                rows = [r for r, (u, _) in enumerate(which) if u == v]
                samples = torch.tensor([which[r][1] for r in rows], device=ws.device)
                grads = {k: self._scatter(f.grad, rows, samples, n=ws.shape[0]) for k, f in fakes.items()} \
                    if isinstance(fakes, dict) else self._scatter(fakes.grad, rows, samples, n=ws.shape[0])
                last = j == len(variants) - 1
                lp.backward_render(v, grads, synthesize=synced if last else local, last=last)
            after.rewind()
        if ws.requires_grad:
            with record_function('linkgan:backward'):
                ws.backward(ws_leaf.grad)          # Through the mapping network, once.
        return terms

    def _gradient_weight(self, link_total, adv, terms, camera, nimg):
        """The weight of the link term (`grad_ratio`, the adaptive weight of VQGAN's discriminator loss applied to
        the link term): measures r = ||grad_G link_total|| / ||grad_G L_adv|| on G's parameters, L_adv being G's
        adversarial loss on the link pass's perturbed fakes (with fake_to_D; else on its unperturbed renders), and
        reports r (`Loss/link/grad_ratio`) and the cosine of the two gradients (`Loss/link/grad_cosine`). Returns
        grad_ratio / r (clamped to [1e-4, 1e4], reported as `Loss/link/weight`), or 1 when grad_ratio is null
        (log_grad_ratio: measured only). A scalar without gradient."""
        spec = self.spec
        params = self.flavour.generator_parameters()
        if adv is not None and spec.fake_to_D_weight > 0:
            reference = adv / spec.fake_to_D_weight
        else:
            x = terms.x if not isinstance(terms.x, dict) else {k: terms.x[k] for k in self.flavour.discriminator_inputs}
            reference = F.softplus(-self.flavour.discriminate(self.base, x, camera, nimg, sync=False)).mean()
        flat = lambda loss: torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(
            torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True), params)])
        g_link, g_adv = flat(link_total), flat(reference)
        n_link, n_adv = g_link.norm(), g_adv.norm()
        ratio = n_link / n_adv.clamp(min=1e-12)
        report('Loss/link/grad_ratio', ratio.detach())
        report('Loss/link/grad_cosine', (g_link @ g_adv / (n_link * n_adv).clamp(min=1e-24)).detach())
        if spec.grad_ratio is None:
            return 1.0
        weight = (spec.grad_ratio / ratio.clamp(min=1e-12)).clamp(1e-4, 1e4).detach()
        report('Loss/link/weight', weight)
        return weight

    @staticmethod
    def _scatter(grad, rows, samples, n):
        """[n, ...] gradient of one perturbed render: rows `rows` of a fakes gradient [count, ...] added at samples
        `samples` (a sample drawn twice gets both)."""
        return grad.new_zeros([n, *grad.shape[1:]]).index_add_(0, samples, grad[rows])

    def _adversarial(self, fakes, fake_camera, nimg):
        """G's adversarial term on perturbed fakes, weighted (a scalar); queues detached copies of the fakes (and
        their cameras) for D's next fake phase."""
        logits = self.flavour.discriminate(self.base, fakes, fake_camera, nimg, sync=False)
        adv = F.softplus(-logits)
        report('Loss/link/G_adv', adv)
        detached = {k: v.detach() for k, v in fakes.items()} if isinstance(fakes, dict) else fakes.detach()
        self._fakes_for_D.append((detached, fake_camera.detach()))
        return adv.mean() * self.spec.fake_to_D_weight

    def perturbation_directions(self, z, ws, camera):
        """Directions p [n, links, w_dim] the link pass scales by alpha: N(0, I) (`perturbation: noise`, the paper),
        or w(z') - w(z) for a fresh z' (`perturbation: resample`: the offset that resamples the axes)."""
        if self.spec.perturbation == 'noise':
            return self.link_noise(z)
        with torch.no_grad():
            cond = self.flavour.mapping_condition(camera, self.base)
            ws_new = self.flavour.map_local(torch.randn_like(z), cond)
        return (ws_new[:, 0] - ws[:, 0].detach())[:, None, :].expand(-1, self.bound.num_links, -1)

    def link_noise(self, z):
        """Perturbation directions p ~ N(0, I) for the samples of z: [len(z), links, w_dim].
        An extension point: override for common random numbers across processes or runs."""
        return sample_link_noise(z.shape[0], self.bound.num_links, self.bound.w_dim, z.device)

    def _pick_perturbed(self, terms, camera, count):
        """`count` perturbed renders drawn without replacement (while the pool lasts) from the 2K variants of the
        link pass's samples, with their cameras.

        D must see perturbed fakes as it sees other fakes: in batches of the size of its regular fake batches
        (`count` = batch_gpu), because upstream's minibatch-stddev layer groups min(group_size, N) images, so a
        smaller batch alone would change that feature and tell D which images are perturbed.
        Returns:
            (images [count, C, H, W] or a dict of them (the outputs D takes), camera [count, c_dim],
            [(variant, sample)] per image: variant indexes terms.x1 + terms.x2, sample the link pass's batch).
        """
        pool = terms.x1 + terms.x2                      # 2K renders of n samples each.
        n = camera.shape[0]
        size = len(pool) * n
        picks = torch.cat([torch.randperm(size) for _ in range(-(-count // size))])[:count].tolist()
        which = [(j // n, j % n) for j in picks]        # (variant, sample)
        index = torch.tensor([i for _, i in which], device=camera.device)
        if isinstance(terms.x, dict):
            keys = self.flavour.discriminator_inputs
            return {k: torch.stack([pool[v][k][i] for v, i in which]) for k in keys}, camera[index], which
        return torch.stack([pool[v][i] for v, i in which]), camera[index], which

    def _accumulate_fakes_for_D(self, sync, gain, cur_nimg):
        fakes, camera = self._fakes_for_D.pop(0)
        logits = self.flavour.discriminate(self.base, fakes, camera, cur_nimg or 0, sync=sync)
        loss = F.softplus(logits)
        report('Loss/link/D_fake', loss)
        loss.mean().mul(self.spec.fake_to_D_weight * gain).backward()

    def _report(self, terms):
        total_in = sum(v.sum(dim=1) for v in terms.l_in.values())
        total_out = sum(v.sum(dim=1) for v in terms.l_out.values())
        report('Loss/link/in', total_in)
        report('Loss/link/out', total_out)
        report('Loss/link/penalty', terms.loss)
        for i, name in enumerate(self.spec.names):
            report(f'Loss/link/{name}/in', sum(v[:, i] for v in terms.l_in.values()))
            report(f'Loss/link/{name}/out', sum(v[:, i] for v in terms.l_out.values()))

    def _report_kernel_paths(self, before):
        """What computed this link pass's masked differences, so every figure says what produced it: statistic
        `Linkgan/masked_diff/<path>` = 1 for each path that ran ('cuda' or 'cpu' kernel, 'ref' for the PyTorch
        reference; upstream writes it to stats.jsonl every tick, so a fallback shows as a `ref` key), and one log
        line (stdout, upstream's log.txt) the first time each (device, path, reason) runs in this process (a run
        of upstream's train.py; each DDP rank is its own process).

        Args:
            before: ops.paths_run() taken before the pass.
        """
        for key in paths_run(since=before):
            device, path, reason = key
            report(f'Linkgan/masked_diff/{path}', torch.ones([], device=self.device))
            if key not in _paths_logged:
                _paths_logged.add(key)
                what = 'the PyTorch reference' if path == 'ref' else f'the fused {path} kernel'
                print(f'linkgan: the link term\'s masked differences run on {what} ({device} tensors; {reason})',
                      flush=True)

    #------------------------------------------------------------------------

    @torch.no_grad()
    def estimate_w_std(self, c_pool, num_samples=2048, batch=256):
        """Per-axis std of W, [w_dim], from `num_samples` mapped z (conditions drawn from `c_pool` [N, c_dim])."""
        ws = []
        for start in range(0, num_samples, batch):
            k = min(batch, num_samples - start)
            z = torch.randn([k, self.flavour.z_dim], device=self.device)
            c = c_pool[torch.randint(0, c_pool.shape[0], [k], device=c_pool.device)].to(self.device)
            ws.append(self.flavour.map_local(z, self.flavour.mapping_condition(c, self.base))[:, 0])
        return torch.cat(ws).std(dim=0)

#----------------------------------------------------------------------------
