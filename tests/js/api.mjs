// Copied verbatim from the frontend integration guide (Step 1: src/services/api.js,
// and Advanced Patterns: pollJobStatusWithBackoff). Do not edit: the point is
// that the guide's code works unchanged against vestis-mock-server.

// src/services/api.js

const API_BASE_URL = process.env.REACT_APP_API_URL || 'http://localhost:4000/api/v1';

// Helper to get auth token
const getAuthHeaders = () => ({
  'Authorization': `Bearer ${localStorage.getItem('token')}`,
  'Content-Type': 'application/json',
});

/**
 * Create a new generation job
 * @param {string} type - Generation type: 'chat', 'flatlay', 'onmodel', etc.
 * @param {object} payload - Request payload
 * @returns {Promise<{job_id: number, status: string}>}
 */
export const createGenerationJob = async (type, payload) => {
  const queryParam = type !== 'legacy' ? `?${type}=true` : '';
  
  const response = await fetch(`${API_BASE_URL}/generate${queryParam}`, {
    method: 'POST',
    headers: getAuthHeaders(),
    body: JSON.stringify(payload),
  });

  if (!response.ok) {
    const error = await response.json();
    throw new Error(error.error || 'Failed to create job');
  }

  return response.json(); // { success: true, job_id: 123, status: "pending" }
};

/**
 * Get job status and result
 * @param {number} jobId - Job ID
 * @returns {Promise<object>} Job details with status and result
 */
export const getJobStatus = async (jobId) => {
  const response = await fetch(`${API_BASE_URL}/jobs/${jobId}`, {
    headers: getAuthHeaders(),
  });

  if (!response.ok) {
    const error = await response.json();
    throw new Error(error.error || 'Failed to fetch job status');
  }

  return response.json();
};

/**
 * Poll job status until completed or failed
 * @param {number} jobId - Job ID
 * @param {object} options - Polling options
 * @returns {Promise<object>} Final job result
 */
export const pollJobStatus = async (
  jobId,
  {
    interval = 2000,        // Poll every 2 seconds
    maxAttempts = 150,      // Max 5 minutes (150 * 2s)
    onProgress = null,      // Callback for status updates
  } = {}
) => {
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const job = await getJobStatus(jobId);

    // Call progress callback if provided
    if (onProgress) {
      onProgress(job);
    }

    // Job completed successfully
    if (job.status === 'completed') {
      return job.result; // { image_url, generated_at, message }
    }

    // Job failed
    if (job.status === 'failed') {
      throw new Error(job.error || 'Job failed');
    }

    // Still processing, wait before next poll
    await new Promise(resolve => setTimeout(resolve, interval));
  }

  throw new Error('Job polling timed out after 5 minutes');
};

/**
 * List all jobs for the current user
 * @param {object} params - Pagination params
 * @returns {Promise<{jobs: Array, metadata: object}>}
 */
export const listJobs = async ({ page = 1, pageSize = 20 } = {}) => {
  const response = await fetch(
    `${API_BASE_URL}/jobs?page=${page}&page_size=${pageSize}`,
    { headers: getAuthHeaders() }
  );

  if (!response.ok) {
    const error = await response.json();
    throw new Error(error.error || 'Failed to fetch jobs');
  }

  return response.json(); // { jobs: [...], metadata: {...} }
};

/**
 * Cancel a pending job
 * @param {number} jobId - Job ID
 * @returns {Promise<void>}
 */
export const cancelJob = async (jobId) => {
  const response = await fetch(`${API_BASE_URL}/jobs/${jobId}`, {
    method: 'DELETE',
    headers: getAuthHeaders(),
  });

  if (!response.ok) {
    const error = await response.json();
    throw new Error(error.error || 'Failed to cancel job');
  }

  return response.json();
};

export const pollJobStatusWithBackoff = async (
  jobId,
  { maxAttempts = 150, onProgress = null } = {}
) => {
  let interval = 1000; // Start with 1 second
  const maxInterval = 5000; // Max 5 seconds
  
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const job = await getJobStatus(jobId);
    
    if (onProgress) onProgress(job);
    
    if (job.status === 'completed') return job.result;
    if (job.status === 'failed') throw new Error(job.error);
    
    // Exponential backoff: increase interval gradually
    await new Promise(resolve => setTimeout(resolve, interval));
    interval = Math.min(interval * 1.2, maxInterval);
  }
  
  throw new Error('Polling timed out');
};
