"""Reading the lab's committed records: evaluations written before the product had one quality schema.

Runs evaluated before analysis/realism.py (most of results/) store the demo's older layout: 'quality' (the SWD
{'levels', 'mean'}), 'quality_floor' and 'coverage' (with 'floor') side by side. `quality_of` gives either layout as
realism.measure_quality's schema, so every report regenerates from its committed JSON.
"""

#----------------------------------------------------------------------------

def quality_of(evaluation):
    """The realism schema ({'images', 'swd', 'swd_floor', 'coverage', 'floor_note'}) of an evaluation of either
    layout (module docstring)."""
    q = evaluation['quality']
    if 'swd' in q:
        return q
    return {'images': (evaluation.get('quality_floor') or {}).get('images'), 'swd': q,
            'swd_floor': evaluation.get('quality_floor'), 'coverage': evaluation.get('coverage'),
            'floor_note': None}


def swd_of(evaluation):
    """The evaluation's SWD (x1e3)."""
    return quality_of(evaluation)['swd']['mean']

#----------------------------------------------------------------------------
