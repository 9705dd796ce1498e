// The dashboard's script (GET /__admin/ui/dashboard.js). It reads and drives
// the mock through its admin API (/__admin/*, by relative URLs) and follows
// /__admin/events, polling /__admin/overview when the stream is silent.
// Every value from the server reaches the page as text (textContent or
// Element.append of strings), never as HTML: payloads and errors may hold
// anything a test sent.

const PAGE_SIZE = 20;
const STREAM_SILENCE_MS = 2500; // the stream sends at least once a second
const STATUSES = ['pending', 'processing', 'completed', 'failed', 'cancelled'];

const $ = (id) => document.getElementById(id);

/** An element with attributes and children; strings become text nodes. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

const state = {
  page: 1,
  total: 0,
  selected: null,
  version: null,
  overview: null,
  overviewAt: 0,
  lastEvent: 0,
  refreshing: false,
  again: false,
  config: {},
};

/** Calls the admin API; the parsed JSON, or an Error with the server's message. */
async function api(path, { method = 'GET', body } = {}) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    throw new Error((data && data.error) || `${method} ${path}: HTTP ${response.status}`);
  }
  return data;
}

let noticeTimer = null;
function notice(message, isError = false) {
  const box = $('notice');
  box.textContent = message;
  box.className = isError ? 'error' : '';
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.hidden = true; }, isError ? 8000 : 3000);
}

/** Runs an action, reporting its outcome, then refreshes what it changed. */
async function act(label, action) {
  try {
    await action();
    notice(label);
  } catch (e) {
    notice(e.message, true);
  }
  await refresh();
}

// ---- time ----

/** The mock's clock now, in ms since the epoch (it runs on with a real clock). */
function mockNow() {
  const o = state.overview;
  if (!o) return Date.now();
  const at = Date.parse(o.clock.now);
  return o.clock.mode === 'real' ? at + (performance.now() - state.overviewAt) : at;
}

function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function age(job) {
  return formatDuration(mockNow() - Date.parse(job.created_at));
}

function duration(job) {
  if (!job.started_at) return '–';
  const end = job.completed_at ? Date.parse(job.completed_at) : mockNow();
  return formatDuration(end - Date.parse(job.started_at));
}

function badge(status) {
  return el('span', { class: `badge ${STATUSES.includes(status) ? status : ''}` }, String(status));
}

function prompt(payload) {
  if (payload && typeof payload.prompt === 'string') return payload.prompt;
  const text = JSON.stringify(payload ?? {});
  return text === '{}' ? '' : text;
}

// ---- overview ----

function applyOverview(o) {
  state.overview = o;
  state.overviewAt = performance.now();
  for (const status of STATUSES) $(`count-${status}`).textContent = String(o.counts[status]);
  $('queue-depth').textContent = String(o.queue_depth);
  $('workers').textContent = `${o.workers.busy} / ${o.workers.idle}`;
  $('rps').textContent = String(o.requests_per_second);
  $('clock').textContent = `${o.clock.mode} clock · ${o.clock.now}`;
  const recording = $('recording');
  recording.hidden = !o.recording;
  if (o.recording) recording.textContent = `recording ${o.recording.source} · ${o.recording.jobs} jobs`;
  const pause = $('pause');
  pause.textContent = o.paused ? 'Resume queue' : 'Pause queue';
  pause.dataset.paused = String(o.paused);
  tokenOptions(o.tokens);
  if (o.version !== state.version) {
    state.version = o.version;
    refresh();
  }
}

function tokenOptions(tokens) {
  const select = $('token-filter');
  const wanted = ['', ...tokens.map((t) => t.fingerprint)];
  if (select.value && !wanted.includes(select.value)) wanted.push(select.value);
  const have = [...select.options].map((o) => o.value);
  if (have.join() === wanted.join()) return;
  const current = select.value;
  const counts = new Map(tokens.map((t) => [t.fingerprint, t.jobs]));
  select.replaceChildren(...wanted.map((fp) => el('option', { value: fp },
    fp === '' ? 'any' : `${fp} (${counts.get(fp) ?? 0})`)));
  select.value = current;
}

function setLink(mode) {
  const link = $('link');
  link.dataset.state = mode;
  link.textContent = mode;
  document.body.dataset.link = mode;
}

function follow() {
  if (typeof EventSource === 'function') {
    const stream = new EventSource('events');
    stream.addEventListener('overview', (event) => {
      state.lastEvent = performance.now();
      setLink('live');
      try { applyOverview(JSON.parse(event.data)); } catch (e) { notice(`Bad event: ${e.message}`, true); }
    });
  }
  // The fallback: whenever the stream has been silent too long, poll.
  const poll = async () => {
    if (state.lastEvent && performance.now() - state.lastEvent < STREAM_SILENCE_MS) return;
    try {
      applyOverview(await api('overview'));
      setLink('polling');
    } catch {
      setLink('offline');
    }
  };
  poll();
  setInterval(poll, 2000);
  // Ages and durations move with the clock even when no job changes.
  setInterval(tickTimes, 1000);
}

// ---- jobs ----

function filterQuery() {
  const form = new FormData($('filters'));
  const query = new URLSearchParams();
  for (const [key, value] of form) if (value) query.set(key, String(value));
  query.set('page', String(state.page));
  query.set('page_size', String(PAGE_SIZE));
  return query;
}

/** Reloads the jobs page and the open job; coalesces calls made meanwhile. */
async function refresh() {
  if (state.refreshing) { state.again = true; return; }
  state.refreshing = true;
  try {
    do {
      state.again = false;
      await Promise.all([loadJobs(), state.selected ? loadDetail(state.selected) : null]);
    } while (state.again);
  } catch (e) {
    notice(e.message, true);
  } finally {
    state.refreshing = false;
  }
}

async function loadJobs() {
  const data = await api(`jobs?${filterQuery()}`);
  const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
  if (state.page > pages) { state.page = pages; state.again = true; }
  state.total = data.total;
  $('jobs').tBodies[0].replaceChildren(...data.jobs.map(row));
  $('empty').hidden = data.jobs.length > 0;
  $('total').textContent = `${data.total} job${data.total === 1 ? '' : 's'}`;
  $('page').textContent = `Page ${state.page} of ${pages}`;
  $('prev').disabled = state.page <= 1;
  $('next').disabled = state.page >= pages;
  document.body.dataset.version = String(state.version);
}

function row(job) {
  const thumb = job.result
    ? el('img', { src: job.result.image_url, alt: `Job ${job.job_id}'s image`, width: 36, height: 36, loading: 'lazy' })
    : el('span', { title: 'No image yet' });
  const tr = el('tr', {
    tabindex: 0,
    'data-id': job.job_id,
    'data-status': job.status,
    'aria-selected': String(job.job_id === state.selected),
  },
  el('td', { class: 'mono' }, `#${job.job_id}`),
  el('td', { class: 'thumb' }, thumb),
  el('td', {}, job.job_type),
  el('td', {}, badge(job.status)),
  el('td', { class: 'prompt', title: prompt(job.payload) }, prompt(job.payload)),
  el('td', { class: 'token mono muted', title: job.token_fingerprint }, job.token_fingerprint.slice(0, 11)),
  el('td', { class: 'num' }, String(job.attempts)),
  el('td', { class: 'num', 'data-age': job.created_at }, age(job)),
  el('td', { class: 'num', 'data-duration': '' }, duration(job)));
  tr.job = job;
  tr.addEventListener('click', () => open(job.job_id));
  tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(job.job_id); });
  return tr;
}

function tickTimes() {
  for (const tr of $('jobs').tBodies[0].rows) {
    if (!tr.job) continue;
    tr.cells[7].textContent = age(tr.job);
    tr.cells[8].textContent = duration(tr.job);
  }
}

// ---- one job ----

function open(id) {
  state.selected = id;
  for (const tr of $('jobs').tBodies[0].rows) tr.setAttribute('aria-selected', String(tr.job?.job_id === id));
  $('detail').hidden = false;
  loadDetail(id).catch((e) => notice(e.message, true));
}

function fact(term, value) {
  return [el('dt', {}, term), el('dd', {}, value ?? '–')];
}

async function loadDetail(id) {
  const [job, journal] = await Promise.all([
    api(`jobs/${id}`),
    api(`requests?job_id=${id}`).catch(() => ({ total: 0, requests: [] })),
  ]);
  if (state.selected !== id) return;
  $('detail-title').textContent = `Job #${job.job_id}`;
  $('detail-status').replaceWith(Object.assign(badge(job.status), { id: 'detail-status' }));
  $('detail-facts').replaceChildren(
    ...fact('Kind', job.job_type),
    ...fact('Token', job.token_fingerprint),
    ...fact('Attempts', String(job.attempts)),
    ...fact('Created', job.created_at),
    ...fact('Started', job.started_at),
    ...fact('Completed', job.completed_at),
    ...fact('Duration', duration(job)),
  );
  const image = $('detail-image');
  if (job.result) {
    if (image.getAttribute('src') !== job.result.image_url) image.src = job.result.image_url;
    image.hidden = false;
  } else {
    image.removeAttribute('src');
    image.hidden = true;
  }
  $('detail-error').textContent = job.error ?? '–';
  $('detail-error').classList.toggle('none', !job.error);
  $('detail-payload').textContent = JSON.stringify(job.payload, null, 2);
  const live = job.status === 'pending' || job.status === 'processing';
  for (const button of ['complete', 'cancel']) $(button).disabled = !live;
  $('fail').querySelector('button').disabled = !live;
  $('detail-requests-count').textContent = `(${journal.total})`;
  $('detail-requests').tBodies[0].replaceChildren(...journal.requests.map((r) => el('tr', {},
    el('td', { class: 'mono' }, String(r.time).replace(/^.*T/, '')),
    el('td', {}, r.method),
    el('td', { class: 'mono', title: r.query ? `${r.path}?${r.query}` : r.path }, r.path),
    el('td', { class: 'num' }, String(r.status)),
    el('td', { class: 'fault' }, r.fault ?? ''))));
  $('detail').dataset.job = String(job.job_id);
  $('detail').dataset.status = job.status;
}

// ---- settings ----

async function loadConfig() {
  const config = await api('config');
  state.config = config;
  $('config-fields').replaceChildren(...Object.entries(config).map(([key, value]) => el('label', {},
    key.replaceAll('_', ' '),
    el('input', { name: key, value: value === null ? '' : String(value), placeholder: value === null ? 'off' : undefined }))));
}

/** The fields changed in the form, typed like the current settings. */
function configPatch() {
  const patch = {};
  for (const input of $('config-fields').querySelectorAll('input')) {
    const before = state.config[input.name];
    const text = input.value.trim();
    if (text === (before === null ? '' : String(before))) continue;
    if (text === '') patch[input.name] = null;
    else if (typeof before === 'number' || (before === null && /^[0-9.]+$/.test(text))) patch[input.name] = Number(text);
    else patch[input.name] = text;
  }
  return patch;
}

// ---- wiring ----

/** The table's filters, pages and rows, and the detail's buttons. */
function wireJobs() {
  $('filters').addEventListener('change', () => { state.page = 1; refresh(); });
  $('filters').addEventListener('submit', (e) => e.preventDefault());
  $('prev').addEventListener('click', () => { state.page = Math.max(1, state.page - 1); refresh(); });
  $('next').addEventListener('click', () => { state.page += 1; refresh(); });
  $('close').addEventListener('click', () => {
    state.selected = null;
    $('detail').hidden = true;
    for (const tr of $('jobs').tBodies[0].rows) tr.setAttribute('aria-selected', 'false');
  });
  $('complete').addEventListener('click', () => {
    const id = state.selected;
    act(`Job #${id} completed`, () => api(`jobs/${id}/complete`, { method: 'POST', body: {} }));
  });
  $('cancel').addEventListener('click', () => {
    const id = state.selected;
    act(`Job #${id} cancelled`, () => api(`jobs/${id}/cancel`, { method: 'POST', body: {} }));
  });
  $('fail').addEventListener('submit', (e) => {
    e.preventDefault();
    const id = state.selected;
    const error = $('fail-message').value.trim();
    act(`Job #${id} failed`, () => api(`jobs/${id}/fail`, { method: 'POST', body: error ? { error } : {} }));
  });
}

/** The header's queue, clock and reset controls, and the settings form. */
function wireControls() {
  $('pause').addEventListener('click', () => {
    const paused = $('pause').dataset.paused === 'true';
    act(paused ? 'Queue resumed' : 'Queue paused', async () => {
      await api(paused ? 'queue/resume' : 'queue/pause', { method: 'POST' });
      await showOverview();
    });
  });
  $('advance').addEventListener('submit', (e) => {
    e.preventDefault();
    const by = $('advance-by').value.trim();
    act(`Clock advanced by ${by}`, async () => {
      await api('clock/advance', { method: 'POST', body: { by } });
      await showOverview();
    });
  });
  // Reset forgets everything: it takes a second click within 3 s.
  let armed = null;
  $('reset').addEventListener('click', () => {
    const button = $('reset');
    if (!armed) {
      button.textContent = 'Click again to reset';
      armed = setTimeout(() => { armed = null; button.textContent = 'Reset'; }, 3000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.textContent = 'Reset';
    act('Server reset', async () => {
      await api('reset', { method: 'POST' });
      await loadConfig();
      await showOverview();
    });
  });
  $('config').addEventListener('submit', (e) => {
    e.preventDefault();
    const patch = configPatch();
    if (Object.keys(patch).length === 0) { notice('Nothing changed'); return; }
    act(`Settings applied: ${Object.keys(patch).join(', ')}`, async () => {
      await api('config', { method: 'PATCH', body: patch });
      await loadConfig();
    });
  });
}

/** After a control that changes the overview, shows it without waiting. */
async function showOverview() {
  applyOverview(await api('overview'));
}

wireJobs();
wireControls();
follow();
loadConfig().catch((e) => notice(e.message, true));
