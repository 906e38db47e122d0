// linkgan view: the page's logic. Plain JavaScript, no libraries, nothing fetched from elsewhere.
//
// The state (the server's ViewState) lives in `state`; every control edits it and calls schedule(). At most one
// render request is in flight: while one is, later changes only mark the state dirty, and when the answer arrives
// the latest state is sent (intermediate slider positions are never rendered). Each request carries this page's
// client id and an increasing number, so the server can also drop a request superseded while it waited.
'use strict';

const $ = (id) => document.getElementById(id);
const client = 'page-' + Math.random().toString(36).slice(2) + Date.now().toString(36);
let info = null;
let state = null;
let requestNumber = 0;
let inFlight = false;
let dirty = false;

//----------------------------------------------------------------------------
// Talking to the server.

async function api(path, body) {
  const options = body === undefined ? {} :
    { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  let data = null;
  try { data = await response.json(); } catch (e) { data = { error: `HTTP ${response.status}` }; }
  return { status: response.status, ok: response.ok, data };
}

function schedule() {
  dirty = true;
  pump();
}

async function pump() {
  if (inFlight || !dirty) return;
  dirty = false;
  inFlight = true;
  setBusy(true);
  const number = ++requestNumber;
  try {
    const answer = await api('/api/render', { ...state, client, request: number });
    if (answer.ok) {
      show(answer.data);
      setStatus(`rendered in ${answer.data.render_ms.toFixed(0)} ms`);
    } else if (answer.status !== 409) {          // 409: superseded; the newer request answers.
      setStatus(answer.data.error || `HTTP ${answer.status}`, true);
    }
  } catch (e) {
    setStatus(`cannot reach the server: ${e.message}`, true);
  } finally {
    inFlight = false;
    setBusy(dirty);
    pump();
  }
}

function setBusy(busy) {
  document.body.dataset.busy = busy ? '1' : '0';
  if (busy) setStatus('rendering\u2026');
}

function setStatus(text, error = false) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', error);
}

//----------------------------------------------------------------------------
// Showing a render.

function formatNumber(v) {
  if (v === 0) return '0';
  return Math.abs(v) >= 0.01 ? v.toFixed(4) : v.toExponential(2);
}

function show(data) {
  data.networks.forEach((net, i) => {
    const panel = $(`net-${i}`);
    panel.querySelector('.original').src = net.original;
    panel.querySelector('.image').src = net.image;
    panel.querySelector('.heat').src = net.heat;
    if (net.depth) panel.querySelector('.depth').src = net.depth;
    const cells = { 'change-in': net.change_in, 'change-out': net.change_out,
                    'ratio': net.change_in > 0 ? net.change_out / net.change_in : null };
    for (const [cls, value] of Object.entries(cells)) {
      const cell = panel.querySelector(`.${cls}`);
      cell.dataset.value = value === null ? '' : String(value);
      cell.textContent = value === null ? '\u2013' : formatNumber(value);
    }
  });
  $('heat-top').textContent = formatNumber(data.heat_max);
  document.body.dataset.renders = String(Number(document.body.dataset.renders) + 1);
}

//----------------------------------------------------------------------------
// Building the page from /api/info.

function networkPanel(net, i) {
  const panel = document.createElement('section');
  panel.className = 'network';
  panel.id = `net-${i}`;
  panel.dataset.name = net.name;
  const title = document.createElement('h2');
  title.textContent = net.label;
  title.title = `${net.path}\n${net.flavour}, ${net.resolution} px, w_dim ${net.w_dim}, ${net.device}`;
  panel.appendChild(title);
  const tiles = document.createElement('div');
  tiles.className = 'tiles';
  const figures = [['original', 'unedited'], ['image', 'edited'], ['heat', '|change|']];
  if (net.eg3d) figures.push(['depth', 'depth (edited)']);
  for (const [cls, caption] of figures) {
    const figure = document.createElement('figure');
    const img = document.createElement('img');
    img.className = cls;
    img.id = `net-${i}-${cls}`;
    img.alt = `${net.name}: ${caption}`;
    const figcaption = document.createElement('figcaption');
    figcaption.textContent = caption;
    figure.append(img, figcaption);
    tiles.appendChild(figure);
  }
  panel.appendChild(tiles);
  const table = document.createElement('table');
  table.className = 'numbers';
  for (const [cls, text] of [['change-in', 'in-region change'], ['change-out', 'out-of-region change'],
                             ['ratio', 'out / in']]) {
    const row = table.insertRow();
    const th = document.createElement('th');
    th.textContent = text;
    row.appendChild(th);
    const td = row.insertCell();
    td.className = cls;
    td.id = `net-${i}-${cls}`;
    td.textContent = '\u2013';
  }
  panel.appendChild(table);
  return panel;
}

function directionSliders() {
  const box = $('directions');
  const [lo, hi] = info.ranges.direction;
  info.directions.forEach((d, k) => {
    const row = document.createElement('div');
    row.className = 'row';
    const label = document.createElement('label');
    label.htmlFor = `direction-${k}`;
    label.textContent = d.label;
    label.title = d.label;
    const input = document.createElement('input');
    Object.assign(input, { type: 'range', id: `direction-${k}`, min: lo, max: hi, step: 0.01, value: 0 });
    const output = document.createElement('output');
    output.id = `direction-${k}-value`;
    output.textContent = '0.00';
    const note = document.createElement('span');
    note.className = 'muted';
    note.textContent = `on ${d.networks.join(', ')}`;
    input.addEventListener('input', () => {
      state.directions[k] = Number(input.value);
      output.textContent = Number(input.value).toFixed(2);
      schedule();
    });
    row.append(label, input, output, note);
    box.appendChild(row);
  });
}

function randomSeed() {
  return Math.floor(Math.random() * 1000000);
}

function syncControls() {
  $('seed').value = state.seed;
  $('link').value = state.link;
  const link = info.links.find((l) => l.name === state.link);
  $('link-axes').textContent = link ? `axes ${link.axes} (${link.num_axes}); region ${JSON.stringify(link.region)}` : '';
  for (const name of ['linked', 'other', 'yaw']) {
    $(name).value = state[name];
    $(`${name}-value`).textContent = Number(state[name]).toFixed(2);
  }
  $('linked-target').textContent = state.linked_target;
  $('other-target').textContent = state.other_target;
  info.directions.forEach((d, k) => {
    $(`direction-${k}`).value = state.directions[k];
    $(`direction-${k}-value`).textContent = Number(state.directions[k]).toFixed(2);
  });
}

function wireControls() {
  $('seed').addEventListener('change', () => {
    const v = Number($('seed').value);
    if (Number.isInteger(v) && v >= 0 && v <= info.ranges.seed[1]) { state.seed = v; schedule(); }
    else setStatus('seed: an integer in [0, 2^32)', true);
  });
  $('random-seed').addEventListener('click', () => { state.seed = randomSeed(); syncControls(); schedule(); });
  $('link').addEventListener('change', () => { state.link = $('link').value; syncControls(); schedule(); });
  for (const name of ['linked', 'other', 'yaw']) {
    $(name).addEventListener('input', () => {
      state[name] = Number($(name).value);
      $(`${name}-value`).textContent = state[name].toFixed(2);
      schedule();
    });
  }
  $('resample-linked').addEventListener('click', () => {
    state.linked_target = randomSeed(); state.linked = 1; syncControls(); schedule();
  });
  $('resample-other').addEventListener('click', () => {
    state.other_target = randomSeed(); state.other = 1; syncControls(); schedule();
  });
  const heatChanged = () => {
    const auto = $('heat-auto').checked;
    $('heat-max').disabled = auto;
    const v = Number($('heat-max').value);
    state.heat_max = auto || !(v > 0) ? null : v;
    schedule();
  };
  $('heat-auto').addEventListener('change', heatChanged);
  $('heat-max').addEventListener('change', heatChanged);
  $('reset').addEventListener('click', () => {
    state.linked = 0; state.other = 0; state.yaw = 0; state.directions = state.directions.map(() => 0);
    syncControls(); schedule();
  });
  $('save').addEventListener('click', async () => {
    $('saved').textContent = 'saving\u2026';
    try {
      const answer = await api('/api/save', { ...state });
      $('saved').textContent = answer.ok ? `wrote ${answer.data.png} and ${Object.keys(answer.data.codes).length} codes file(s)`
                                         : `save failed: ${answer.data.error}`;
    } catch (e) {
      $('saved').textContent = `save failed: ${e.message}`;
    }
  });
}

async function start() {
  const answer = await api('/api/info');
  if (!answer.ok) { setStatus(answer.data.error || 'cannot load /api/info', true); return; }
  info = answer.data;
  state = { ...info.state, directions: [...info.state.directions] };
  $('spec-origin').textContent = `spec: ${info.spec_origin}; truncation ${info.truncation}`;
  for (const link of info.links) {
    const option = document.createElement('option');
    option.value = option.textContent = link.name;
    $('link').appendChild(option);
  }
  $('camera').hidden = !info.eg3d;
  [$('yaw').min, $('yaw').max] = info.ranges.yaw;
  info.networks.forEach((net, i) => $('networks').appendChild(networkPanel(net, i)));
  for (const note of info.notes) {
    const li = document.createElement('li');
    li.textContent = note;
    $('notes').appendChild(li);
  }
  directionSliders();
  syncControls();
  wireControls();
  schedule();
}

start().catch((e) => setStatus(`error: ${e.message}`, true));
