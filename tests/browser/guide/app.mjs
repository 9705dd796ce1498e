// The guide's UI logic (useImageGeneration, getStatusMessage and JobHistory
// from frontend-integration-guide.md) without React, on the guide's api.js
// served verbatim as api.mjs. The page is opened as
// index.html?api=<REACT_APP_API_URL>&token=<token>[&interval=<ms>]; like the
// app's bundler would, it defines process.env before loading api.mjs.
// Text from the server is shown with textContent only.

const params = new URLSearchParams(location.search);
globalThis.process = { env: { REACT_APP_API_URL: params.get('api') } };
localStorage.setItem('token', params.get('token') || 'guide-user');
// The guide polls every 2 s; a test may shrink it (the numbers, not the logic).
const interval = Number(params.get('interval') || 2000);

const { createGenerationJob, pollJobStatus, listJobs, cancelJob } = await import('./api.mjs');

const $ = (id) => document.getElementById(id);

// The guide's helper, verbatim.
const getStatusMessage = (status) => {
  const messages = {
    pending: 'Waiting in queue...',
    processing: 'Generating your image... (this may take 2-3 minutes)',
    completed: 'Generation complete!',
    failed: 'Generation failed',
  };
  return messages[status] || 'Processing...';
};

/** setProgress of the guide's hook: the status line, and its history. */
function setProgress(progress) {
  $('status').textContent = progress.message;
  $('status').dataset.status = progress.status;
  const log = $('log');
  if (log.lastElementChild?.textContent !== progress.message) {
    const item = document.createElement('li');
    item.textContent = progress.message;
    log.append(item);
  }
}

/** The guide's useImageGeneration().generate. */
async function generate(type, payload) {
  $('error').hidden = true;
  $('log').replaceChildren();
  setProgress({ status: 'creating', message: 'Creating job...' });
  try {
    const { job_id } = await createGenerationJob(type, payload);
    setProgress({ status: 'pending', message: 'Job created, waiting for processing...', jobId: job_id });
    const result = await pollJobStatus(job_id, {
      interval,
      onProgress: (job) => setProgress({ status: job.status, message: getStatusMessage(job.status), jobId: job_id }),
    });
    setProgress({ status: 'completed', message: 'Generation complete!', jobId: job_id });
    return result.image_url;
  } catch (err) {
    $('error').textContent = err.message;
    $('error').hidden = false;
    setProgress({ status: 'failed', message: err.message });
    throw err;
  }
}

$('generate').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('go').disabled = true;
  try {
    const imageUrl = await generate('chat', { prompt: $('prompt').value, images: [] });
    $('result').src = imageUrl;
    $('result').hidden = false;
  } catch {
    // shown by generate
  } finally {
    $('go').disabled = false;
    loadJobs();
  }
});

// ---- JobHistory ----

let page = 1;
let totalPages = 1;

function card(job) {
  const div = document.createElement('div');
  div.className = `job-card status-${job.status}`;
  div.dataset.id = String(job.job_id);
  const header = document.createElement('div');
  header.className = 'job-header';
  const type = document.createElement('span');
  type.className = 'job-type';
  type.textContent = job.job_type;
  const badge = document.createElement('span');
  badge.className = `status-badge status-${job.status}`;
  badge.textContent = job.status;
  header.append(type, ' ', badge);
  const details = document.createElement('small');
  details.textContent = `Job ID: ${job.job_id} · Created: ${new Date(job.created_at).toLocaleString()}`;
  div.append(header, details);
  if (job.status === 'completed' && job.result) {
    const img = document.createElement('img');
    img.src = job.result.image_url;
    img.alt = 'Generated';
    img.width = 64;
    div.append(img);
  }
  if (job.status === 'failed' && job.error) {
    const error = document.createElement('div');
    error.className = 'job-error';
    error.textContent = `Error: ${job.error}`;
    div.append(error);
  }
  if (job.status === 'pending') {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Cancel Job';
    button.addEventListener('click', () => handleCancel(job.job_id));
    div.append(button);
  }
  return div;
}

async function loadJobs() {
  document.body.dataset.loading = 'true';
  try {
    const { jobs: jobList, metadata } = await listJobs({ page, pageSize: 10 });
    totalPages = Math.max(1, metadata.total_pages);
    $('jobs').replaceChildren(...jobList.map(card));
    $('page').textContent = `Page ${page} of ${totalPages}`;
    $('prev').disabled = page === 1;
    $('next').disabled = page >= totalPages;
  } catch (err) {
    console.warn('Failed to load jobs:', err.message);
  } finally {
    document.body.dataset.loading = 'false';
    document.body.dataset.page = String(page);
  }
}

async function handleCancel(jobId) {
  try {
    await cancelJob(jobId);
  } catch (err) {
    $('error').textContent = `Failed to cancel job: ${err.message}`;
    $('error').hidden = false;
  }
  loadJobs();
}

$('prev').addEventListener('click', () => { page = Math.max(1, page - 1); loadJobs(); });
$('next').addEventListener('click', () => { page += 1; loadJobs(); });
$('next').disabled = true;
loadJobs();
document.body.dataset.ready = 'true';
