// The API client: same origin (the API serves this page), bearer token from the session, and
// every error turned into an ApiError carrying the problem JSON's fields.

import { session, forget } from './auth.js';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `The server answered ${status}.`);
    this.status = status;
    this.type = problem?.type || null;
    this.problem = problem || {};
  }
}

/// Called when the API says the token is no longer good (set by app.js).
export const hooks = { unauthorized: () => {} };

export async function api(method, path, body) {
  const s = session();
  if (!s) {
    hooks.unauthorized();
    throw new ApiError(401, { detail: 'Please sign in again.' });
  }
  const headers = { accept: 'application/json', authorization: `Bearer ${s.accessToken}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { detail: 'Reelay could not be reached. Check your connection; this page keeps trying.' });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (response.status === 401) {
    forget();
    hooks.unauthorized();
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const getConfig = async () => {
  const response = await fetch('/api/console/config', { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`The console's settings could not be loaded (${response.status}).`);
  return response.json();
};
