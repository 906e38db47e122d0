"""`linkgan view` in a real headless browser: Chromium (the system's package) driven by Selenium.

Loads the page for an analytic linked network and its control (toy_checkpoints.write_view_pair: the demo's built-in
spec, 32 px; the linked one perfectly linked by construction, the control with cross-talk and no spec of its own),
moves the linked-axes slider and checks that the pictures and the numbers change, that the linked network's
out-of-region change is below the control's, that a burst of slider moves ends on the latest position, and that
"save" writes files.

Opt-in by what is installed: skipped when selenium (`pip install -e '.[view-test]'`), chromium or chromedriver is
missing. The screenshot goes to tmp_path; with LINKGAN_VIEW_SCREENSHOT=PATH it is also written to PATH
(examples/view_screenshot.py refreshes docs/images/view.png that way). LINKGAN_VIEW_NETWORKS=LINKED:CONTROL (two
files, os.pathsep between them; examples/view_screenshot.py --network) loads that pair instead of the analytic one.
"""

import os
import shutil
import tempfile
import threading
import time

import pytest

from linkgan_plugin.analysis.network_loading import load_network, make_adapter
from linkgan_plugin.view.server import ViewServer
from linkgan_plugin.view.session import ViewSession, network_names, resolve_view_spec
from toy_checkpoints import write_view_pair

webdriver = pytest.importorskip('selenium.webdriver', reason='selenium is not installed (pip install -e ".[view-test]")')
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

NETWORKS_ENV = 'LINKGAN_VIEW_NETWORKS'
ANALYTIC_TITLES = ['analytic-linked (linked)', 'analytic-control (unlinked)']
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
CHROMEDRIVER = shutil.which('chromedriver')
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--disable-default-apps', '--disable-extensions', '--hide-scrollbars', '--window-size=1440,760')

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason='chromium and chromedriver are not installed (apt-get install chromium chromium-driver)')

#----------------------------------------------------------------------------

@pytest.fixture(scope='module')
def networks(tmp_path_factory):
    """[linked, control] files: $LINKGAN_VIEW_NETWORKS when set, else toy_checkpoints.write_view_pair's pair."""
    given = os.environ.get(NETWORKS_ENV)
    return given.split(os.pathsep) if given else write_view_pair(tmp_path_factory.mktemp('view-pair'))


@pytest.fixture(scope='module')
def served(networks, tmp_path_factory):
    env = pytest.MonkeyPatch()
    env.setenv('LINKGAN_KERNEL', 'ref')               # Never wait for a kernel build here; the same numbers.
    entries = []
    for name, path in zip(network_names(networks), networks):
        net = load_network(path)
        entries.append((name, net, make_adapter(net)))
    spec, origin, notes = resolve_view_spec(entries)
    session = ViewSession.from_loaded(entries, spec, spec_origin=origin, notes=notes, default_seed=3)
    server = ViewServer(session, port=0, out_dir=str(tmp_path_factory.mktemp('view-saved')))
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    env.undo()


@pytest.fixture(scope='module')
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix='linkgan-view-chromium-')
    for flag in CHROMIUM_FLAGS + (f'--user-data-dir={profile}',):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def renders(driver):
    return int(driver.find_element(By.TAG_NAME, 'body').get_attribute('data-renders'))


def wait_idle(driver, more_than, timeout=60):
    """Waits until the page has shown more than `more_than` renders and has no request in flight."""
    body = driver.find_element(By.TAG_NAME, 'body')
    WebDriverWait(driver, timeout).until(
        lambda d: int(body.get_attribute('data-renders')) > more_than and body.get_attribute('data-busy') == '0')


def shown(driver):
    """{network index: (edited image src, heat src, change in, change out)} as the page shows them."""
    out = {}
    for i in range(2):
        out[i] = (driver.find_element(By.ID, f'net-{i}-image').get_attribute('src'),
                  driver.find_element(By.ID, f'net-{i}-heat').get_attribute('src'),
                  float(driver.find_element(By.ID, f'net-{i}-change-in').get_attribute('data-value')),
                  float(driver.find_element(By.ID, f'net-{i}-change-out').get_attribute('data-value')))
    return out

#----------------------------------------------------------------------------

def test_the_page_shows_both_networks_and_a_slider_moves_the_link(served, browser, tmp_path):
    browser.get(served.url)
    wait_idle(browser, 0)
    titles = [h.text for h in browser.find_elements(By.CSS_SELECTOR, '.network h2')]
    assert titles == [vn.label for vn in served.session.networks]
    assert titles == ANALYTIC_TITLES or os.environ.get(NETWORKS_ENV)
    before = shown(browser)
    assert all(before[i][2] == 0 and before[i][3] == 0 for i in before)          # Unmoved: nothing changed.

    count = renders(browser)
    slider = browser.find_element(By.ID, 'linked')
    slider.send_keys(Keys.END)                                                  # The keyboard moves it to 1.
    wait_idle(browser, count)
    assert slider.get_attribute('value') == '1'
    after = shown(browser)
    for i in before:
        assert after[i][0] != before[i][0] and after[i][1] != before[i][1]      # New pictures ...
        assert after[i][2] > 0                                                   # ... and new numbers.
    assert after[0][3] < after[1][3], after                                      # Linked leaks less than control.
    assert browser.find_element(By.ID, 'status').text.startswith('rendered in')

    # Nothing came from anywhere but the server.
    origins = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name, location.href).origin)")
    assert set(origins) <= {served.url.rstrip('/')}, origins

    path = tmp_path / 'view.png'
    assert browser.save_screenshot(str(path)) and path.stat().st_size > 10000
    if os.environ.get('LINKGAN_VIEW_SCREENSHOT'):
        shutil.copyfile(path, os.environ['LINKGAN_VIEW_SCREENSHOT'])


def test_a_burst_of_slider_moves_ends_on_the_latest_position(served, browser):
    browser.get(served.url)
    wait_idle(browser, 0)
    slider = browser.find_element(By.ID, 'linked')
    count, renders_before = renders(browser), served.renders
    slider.send_keys(*([Keys.ARROW_RIGHT] * 30))                                 # 30 input events in a row.
    wait_idle(browser, count)
    time.sleep(0.3)
    wait_idle(browser, count)
    assert slider.get_attribute('value') == '0.3'
    assert served.renders - renders_before <= 30
    session = served.session
    state = session.parse_state({'seed': 3, 'linked': 0.3})
    expected = session.payload(session.render(state))
    final = shown(browser)
    for i, net in enumerate(expected['networks']):
        assert final[i][0] == net['image']
        assert final[i][3] == pytest.approx(net['change_out'])


def test_save_writes_the_view(served, browser):
    browser.get(served.url)
    wait_idle(browser, 0)
    browser.find_element(By.ID, 'save').click()
    WebDriverWait(browser, 60).until(lambda d: d.find_element(By.ID, 'saved').text.startswith(('wrote', 'save failed')))
    text = browser.find_element(By.ID, 'saved').text
    assert text.startswith('wrote') and '2 codes file(s)' in text, text
    assert any(name.endswith('.png') for name in os.listdir(served.out_dir))
