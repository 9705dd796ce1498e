// Types for the vestis-mock-server JavaScript API and for the Vestis job
// API it serves (docs/contract.md): the guide's `Job` with all five statuses.

import type { ChildProcess } from 'node:child_process';

/** A job's state; `completed`, `failed` and `cancelled` are terminal and never change again. */
export type JobStatus = 'pending' | 'processing' | 'completed' | 'failed' | 'cancelled';

/** What `POST /api/v1/generate?TYPE=true` created; `legacy` is a create without a type flag. */
export type JobType = 'chat' | 'flatlay' | 'mdoli' | 'onmodel' | 'background' | 'legacy';

/** A job as `GET /api/v1/jobs/{id}` returns it. Times are ISO 8601 UTC strings. */
export interface Job {
  job_id: number;
  status: JobStatus;
  job_type: JobType;
  created_at: string;
  /** When the first attempt started; absent or null before that. */
  started_at?: string | null;
  /** When the job became terminal (cancelled included); absent or null before. */
  completed_at?: string | null;
  /** Processing attempts started so far; 0 while waiting for the first. */
  attempts: number;
  /** Only on `completed` jobs; `image_url` loads without credentials. */
  result?: {
    image_url: string;
    generated_at: string;
    message: string;
  } | null;
  /** A message, only on `failed` jobs; null on cancelled ones. */
  error?: string | null;
}

/** The 202 answer of `POST /api/v1/generate`. */
export interface CreateJobResponse {
  success: true;
  job_id: number;
  status: 'pending';
  message: string;
}

/** Every error answer: `{ success: false, error, code }`. */
export interface ErrorResponse {
  success: false;
  error: string;
  code: string;
}

/** Options of `startMockServer`; each named one is the binary's flag of that name. */
export interface MockServerOptions {
  /** `--host`; default `127.0.0.1`. */
  host?: string;
  /** `--port`; default 0, a free port. */
  port?: number;
  /** `--threads`: threads answering HTTP (default 1, one event loop). */
  threads?: number;
  /** `--workers`: jobs processed concurrently (default 4). */
  workers?: number;
  /** `--processing-time`: one attempt's duration or range, e.g. `'50ms'`, `'200ms..400ms'`. */
  processingTime?: string;
  /** `--realistic`: the guide's 2-3 minutes per attempt. */
  realistic?: boolean;
  /** `--failure-rate`: probability (0..1) that an attempt fails. */
  failureRate?: number;
  /** `--max-attempts`: attempts before a job ends failed (default 3). */
  maxAttempts?: number;
  /** `--seed`: reproducible durations, failures and injected errors. */
  seed?: number;
  /** `--rate-limit`: requests per second per token on /api/v1. */
  rateLimit?: number;
  /** `--http-error-rate`: probability of a random 503. */
  httpErrorRate?: number;
  /** `--latency`: added to every /api/v1 response, e.g. `'150ms'`. */
  latency?: string;
  /** `--fault-rate`: probability (0..1) of a transport fault (reset, empty reply, cut body...; see docs/faults.md). */
  faultRate?: number;
  /** `--faults`: the transport faults drawn from, e.g. `'reset,truncate,slow-body=2s'`. */
  faults?: string;
  /** `--fault-on`: which requests `faultRate` may fault. */
  faultOn?: 'all' | 'polls' | 'creates';
  /** `--clock manual`: time stands still until `admin.advanceClock()`. */
  clock?: 'real' | 'manual';
  /** `--paused`: jobs stay pending until `admin.resume()`. */
  paused?: boolean;
  /** `--polls`: every job advances by its polls instead of time. */
  polls?: number;
  /** `--fixtures`: a JSON file of jobs loaded at start and on every reset. */
  fixtures?: string;
  /** `--public-url`: base URL written into `image_url`. */
  publicUrl?: string;
  /** `--token`, repeated: accept only these bearer tokens (default: any non-empty one). */
  tokens?: string[];
  /** Further flags, passed as they are. */
  args?: string[];
  /** Extra environment variables for the server (e.g. `RUST_LOG`). */
  env?: Record<string, string>;
  /** `--head-timeout`: close a connection without a complete request head this long after it opened or its last answer, e.g. `'5s'` (default `'30s'`). */
  headTimeout?: string;
  /** `--body-timeout`: answer 400 when a request body has not fully arrived this long after its head, e.g. `'10s'` (default `'30s'`). */
  bodyTimeout?: string;
  /** `--proxy-to`: forward every /api/v1 request to this real API and follow its jobs (docs/record-replay.md). */
  proxyTo?: string;
  /** `--record`: with `proxyTo`, the recording file written at start, every 5 s when changed, and on stop. */
  record?: string;
  /** `--proxy-timeout`: with `proxyTo`, how long a forwarded request may take, e.g. `'30s'`. */
  proxyTimeout?: string;
  /** `--follow-every`: with `proxyTo`, how often each unfinished job is polled on the real API, e.g. `'200ms'`. */
  followEvery?: string;
  /** `--proxy-ca-cert`: with `proxyTo`, a PEM file of CA certificates to trust for an `https://` backend behind a private CA, on top of the system's roots. */
  proxyCaCert?: string;
  /** `--replay`: a recording to replay as a living queue (docs/record-replay.md#replay); its jobs belong to the `tokens` whose fingerprints recorded them. Not with `fixtures` or `proxyTo`. */
  replay?: string;
  /** The binary to run instead of the platform package's (also `VESTIS_MOCK_SERVER_BINARY`); it must know `--stop-on-stdin-close`. */
  binary?: string;
  /** Milliseconds to wait for the ready line; default 10000. */
  timeout?: number;
  /** `'inherit'` shows the server's logs; by default only the last 4 KiB are kept for error messages. */
  stderr?: 'pipe' | 'inherit';
}

/** Helpers for the `/__admin` API; each resolves to its JSON answer and rejects on an error status. */
export interface MockAdmin {
  /** `http://127.0.0.1:PORT/__admin`. */
  url: string;
  /** Forget every job and journal entry; restore the start-up settings. */
  reset(): Promise<unknown>;
  /** Every job of every token, newest first. */
  jobs(): Promise<{ jobs: Array<Job & { owner: string; payload: unknown }> }>;
  /** Load jobs in any state (the `--fixtures` shape). */
  loadJobs(jobs: Array<Partial<Job> & { token: string; status: JobStatus; payload?: unknown }>): Promise<unknown>;
  /** Complete a pending or processing job now. */
  complete(jobId: number): Promise<Job>;
  /** Fail a pending or processing job now. */
  fail(jobId: number, error?: string): Promise<Job>;
  /** Workers start nothing until `resume()`. */
  pause(): Promise<{ paused: boolean }>;
  resume(): Promise<{ paused: boolean }>;
  /** Move the mock's clock, e.g. `'3m'`. */
  advanceClock(by: string): Promise<{ mode: 'real' | 'manual'; now: string }>;
  /** The request journal, newest first, filtered by method, path or job_id. */
  requests(filter?: { method?: string; path?: string; job_id?: number | string }): Promise<{ total: number; requests: unknown[] }>;
  /** The fault settings, or change some of them at run time. */
  config(changes?: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** A running mock server. */
export interface MockServer {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** `http://127.0.0.1:PORT/api/v1`: the guide's `REACT_APP_API_URL`. */
  apiUrl: string;
  admin: MockAdmin;
  /** The server's process. */
  process: ChildProcess;
  /** Stops it gracefully (SIGTERM, then SIGKILL after 5 s); resolves to its exit code (0), or the signal's name. Safe to call twice. */
  stop(): Promise<number | string>;
}

/**
 * Starts vestis-mock-server and resolves once it listens. The server never
 * outlives the calling process, however it ends (SIGTERM, SIGINT and
 * SIGKILL included): it stops when a pipe only this process holds closes.
 */
export function startMockServer(options?: MockServerOptions): Promise<MockServer>;

/** The binary `startMockServer` and `npx vestis-mock-server` run. */
export function binaryPath(): string;
