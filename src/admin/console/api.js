// The admin API client of the console: the bearer token kept in sessionStorage (never a
// cookie), the catalog version (ETag) of every answer, and API errors in words.

const KEY = 'switchyard.console.token';

/** The operator's token for this tab. */
export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

/** A failed call: HTTP status, the API's error code and message, and the current version. */
export class ApiError extends Error {
  constructor(status, code, message, version, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.version = version;
    this.field = field;
  }
}

function parseEtag(value) {
  if (!value) return null;
  const n = Number(value.replace(/^W\//, '').replace(/"/g, ''));
  return Number.isFinite(n) ? n : null;
}

/**
 * Calls `method /api/v1{path}`; resolves to {data, version}, rejects with an ApiError.
 * `ifMatch` is the catalog version the change was made against.
 */
export async function call(method, path, { body, ifMatch } = {}) {
  const headers = { Accept: 'application/json', Authorization: 'Bearer ' + (token.get() || '') };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (ifMatch !== undefined && ifMatch !== null) headers['If-Match'] = '"' + ifMatch + '"';
  let resp;
  try {
    resp = await fetch('/api/v1' + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, 'network', 'the gateway cannot be reached (' + e.message + ')', null);
  }
  const version = parseEtag(resp.headers.get('ETag'));
  let data = null;
  const text = await resp.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const err = data && data.error;
    const message = err && err.message ? err.message : 'the API answered ' + resp.status;
    throw new ApiError(resp.status, err ? err.code : 'http', message, version, err && err.field);
  }
  return { data, version };
}

/** A name as one path segment (qualified names carry a `/`). */
export const seg = (name) => encodeURIComponent(name);
