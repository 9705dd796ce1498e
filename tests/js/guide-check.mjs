// Drives the frontend guide's own client code (api.mjs, verbatim) against a
// running vestis-mock-server, the way the guide's React hooks use it.
// Run by tests/e2e/guide_js.rs with REACT_APP_API_URL set; prints one JSON
// line of findings on success and exits non-zero on any failure.

globalThis.localStorage = {
  store: { token: 'guide-user' },
  getItem(key) { return this.store[key] ?? null; },
  setItem(key, value) { this.store[key] = String(value); },
  removeItem(key) { delete this.store[key]; },
};

const api = await import('./api.mjs');

const check = (cond, message) => { if (!cond) throw new Error(`check failed: ${message}`); };
const report = {};

// Example 1: chat generation, polled with the guide's defaults.
const progress = [];
const { job_id } = await api.createGenerationJob('chat', { prompt: 'a red dress', images: [] });
check(Number.isInteger(job_id) && job_id > 0, 'job_id is a positive integer');
const result = await api.pollJobStatus(job_id, { onProgress: (job) => progress.push(job.status) });
check(typeof result.image_url === 'string', 'result has image_url');
const image = await fetch(result.image_url);
check(image.ok && image.headers.get('content-type') === 'image/png', 'image loads without credentials');
const bytes = new Uint8Array(await image.arrayBuffer());
check(bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47, 'image is a PNG');
report.chat = { job_id, progress, image_url: result.image_url };

// Example 2: flatlay, polled with the guide's exponential back-off.
const flat = await api.createGenerationJob('flatlay', { modelId: '1', backgroundId: '1', products: [{ id: 'p1' }] });
const flatResult = await api.pollJobStatusWithBackoff(flat.job_id);
check(typeof flatResult.image_url === 'string', 'flatlay completes');

// Legacy (no type flag).
const legacy = await api.createGenerationJob('legacy', { prompt: 'plain' });
check(legacy.status === 'pending', 'legacy create answers pending');

// Example 3: job history and cancel.
const { jobs, metadata } = await api.listJobs({ page: 1, pageSize: 10 });
check(Array.isArray(jobs) && metadata.page === 1 && metadata.page_size === 10, 'listJobs shape');
check(jobs[0].job_id > jobs[jobs.length - 1].job_id, 'newest first');
check(jobs.every((j) => typeof j.job_type === 'string' && typeof j.created_at === 'string'), 'job cards have type and created_at');
report.history = { total: metadata.total };

// A job that stays pending until cancelled: the queue is paused through the
// admin API (a busy queue alone races the cancel on a loaded machine).
const admin = `${process.env.REACT_APP_API_URL.replace(/\/api\/v1\/?$/, '')}/__admin`;
check((await fetch(`${admin}/queue/pause`, { method: 'POST' })).ok, 'queue paused');
const victim = await api.createGenerationJob('chat', { prompt: 'cancel me' });
const cancelled = await api.cancelJob(victim.job_id);
check(cancelled.success === true && cancelled.status === 'cancelled', 'cancel answers cancelled');
check((await fetch(`${admin}/queue/resume`, { method: 'POST' })).ok, 'queue resumed');

// Errors surface through the guide's `error.error` handling.
let message = null;
try { await api.createGenerationJob('chat', { prompt: '' }); } catch (e) { message = e.message; }
check(message === 'prompt is required', `validation error message, got ${message}`);
try { await api.getJobStatus(999999); } catch (e) { message = e.message; }
check(message === 'Job not found', `not found message, got ${message}`);
try { await api.cancelJob(victim.job_id); } catch (e) { message = e.message; }
check(/pending/.test(message), `conflict message, got ${message}`);
localStorage.removeItem('token');
try { await api.listJobs(); } catch (e) { message = e.message; }
check(message && message.length > 0, 'an unauthenticated call fails with a message');
report.errors = 'ok';

console.log(JSON.stringify(report));
