// Drives one whole realistic job (2-3 minutes per attempt) with the guide's
// own client code (api.mjs, verbatim) against a mock server started with
// `--realistic --clock manual`: the guide polls, and when it first sees the
// job processing, the test moves the mock's clock on by three minutes.
// Run by tests/e2e/guide_js.rs with REACT_APP_API_URL and MOCK_ADMIN_URL set;
// prints one JSON line of findings and exits non-zero on any failure.

globalThis.localStorage = {
  store: { token: 'guide-clock-user' },
  getItem(key) { return this.store[key] ?? null; },
  setItem(key, value) { this.store[key] = String(value); },
  removeItem(key) { delete this.store[key]; },
};

const api = await import('./api.mjs');
const admin = process.env.MOCK_ADMIN_URL;
const check = (cond, message) => { if (!cond) throw new Error(`check failed: ${message}`); };

const { job_id } = await api.createGenerationJob('chat', { prompt: 'a linen suit', images: [] });
const progress = [];
let advanced = null;
const result = await api.pollJobStatus(job_id, {
  interval: 20,
  onProgress: (job) => {
    progress.push(job.status);
    if (job.status === 'processing' && advanced === null) {
      advanced = fetch(`${admin}/clock/advance`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ by: '3m' }),
      }).then((r) => r.json());
    }
  },
});
const clock = await advanced;
check(typeof result.image_url === 'string', 'the realistic job completed');
const job = await api.getJobStatus(job_id);
const took = Date.parse(job.completed_at) - Date.parse(job.started_at);
check(took >= 120000 && took <= 180000, `an attempt took 2-3 minutes on the mock's clock, got ${took} ms`);
check(result.generated_at === job.completed_at, 'generated_at is the completion time');
check(Date.parse(clock.now) - Date.parse(job.created_at) === 180000, 'the clock moved exactly 3 minutes');
console.log(JSON.stringify({ job_id, progress, took_ms: took }));
