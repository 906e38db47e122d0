"""The region a post-hoc edit is found and measured on: `region_spec` (a one-link spec from the --region JSON) and
`RegionMasker` (its masks at any layer resolution, per sample), shared by LELSD, ReSeFa, StyleSpace and compare.
"""

import json

from linkgan_plugin.checks import SpecError
from linkgan_plugin.regions import BatchMasks, RegionMasks
from linkgan_plugin.spec import load_spec

MASK_MODE = 'mean'              # LELSD's mask mode for semantic regions (regions.MASK_MODES): the masks' mean.

#----------------------------------------------------------------------------

def region_spec(region_json, name='region', w_dim=None):
    """A one-link LinkSpec holding `region_json` (the CLI's --region), validated exactly as a spec's region is.

    Args:
        region_json: a dict or JSON text, e.g. '{"box": [0, 0, 0.5, 0.5]}' (any region kind of the link spec).
        name:        the link's name. Its axes ('0:1') are a placeholder: LELSD uses only the region.
    Raises:
        SpecError naming the problem (paths read 'links[0].region...').
    """
    if isinstance(region_json, str):
        try:
            region_json = json.loads(region_json)
        except json.JSONDecodeError as e:
            raise SpecError([f'region: invalid JSON: {e}']) from None
    return load_spec({'links': [{'name': name, 'axes': '0:1', 'region': region_json}]}, w_dim=w_dim)


class RegionMasker:
    """Masks of one region at any layer resolution, per sample: a thin view of the one mask assembler
    (`regions.RegionMasks` of a one-link spec) with LELSD's mask mode (regions.MASK_MODES) for semantic regions.

        masker = RegionMasker(one_link_spec, mode='mean')
        sem = masker.segment(x0, x1)         # None for fixed regions, else [N, H, W] (under no_grad)
        m = masker.at(h, w, device, sem)     # [1 or N, h, w] in [0, 1]
    """

    def __init__(self, spec, mode=MASK_MODE):
        if len(spec.links) != 1:
            raise ValueError(f'RegionMasker takes a one-link spec, got {len(spec.links)} links')
        self.masks = RegionMasks(spec, mode=mode)
        self.region = spec.links[0].region
        self.mode = mode

    @property
    def is_fixed(self):
        return self.region.is_fixed

    def segment(self, x0, x1=None):
        """Semantic masks [N, H, W] of the originals x0 combined with those of the edits x1 (per sample), or None."""
        if self.is_fixed:
            return None
        return self.masks.for_batch(x0, None if x1 is None else [x1]).semantic[:, 0]

    def at(self, height, width, device, semantic=None):
        """[1, h, w] for fixed regions (exact rasterisation), [N, h, w] area-resized semantic masks."""
        if semantic is None and not self.is_fixed:
            raise ValueError('a semantic region needs the masks of segment() at every resolution')
        return BatchMasks(self.masks, None if semantic is None else semantic[:, None], device).at(height, width)[:, 0]

#----------------------------------------------------------------------------
