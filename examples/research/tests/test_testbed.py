"""`linkgan-research testbed`: the oracle page is measured, written and redrawn from its JSON alone."""

import json

from click.testing import CliRunner

from linkgan_research.cli import main


def test_testbed_measures_and_redraws_its_page(tmp_path, one_thread):
    out = tmp_path / 'testbed'
    result = CliRunner().invoke(main, ['testbed', '--samples', '16', '--out', str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads((out / 'oracle.json').read_text())
    assert set(record) >= {'faces@32/binary', 'faces@32/soft', 'portraits@64/binary', 'portraits@64/soft'}
    portraits = record['portraits@64/binary']['regions']
    assert set(portraits) == {'eyes', 'nose', 'mouth'}
    # The portraits' eyes box is twice the faces' in pixels (64 px against 32 px; one preset).
    faces = record['faces@32/binary']['regions']
    assert portraits['eyes']['box_height_px'] == 2 * faces['eyes']['box_height_px']
    page = (out / 'oracle.md').read_text()
    assert '--samples 16' in page and '| eyes |' in page and (out / 'portraits.png').stat().st_size > 0

    (out / 'oracle.md').unlink()
    result = CliRunner().invoke(main, ['testbed', '--page-only', '--out', str(out)])
    assert result.exit_code == 0, result.output
    assert (out / 'oracle.md').read_text() == page


def test_page_only_without_a_record_names_the_file(tmp_path):
    result = CliRunner().invoke(main, ['testbed', '--page-only', '--out', str(tmp_path)])
    assert result.exit_code != 0 and 'oracle.json' in result.output
