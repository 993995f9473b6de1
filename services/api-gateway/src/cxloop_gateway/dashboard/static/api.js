// The public API of this gateway, called with the key the user entered. Same origin only:
// the page's Content-Security-Policy lets it connect nowhere else.

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }

  /** The key is missing, wrong or revoked (not: lacks a scope). */
  get refused() {
    return this.status === 401;
  }
}

/** Turn a non-2xx answer into an ApiError carrying its problem+json `detail`. */
export async function apiError(response) {
  let detail = `${response.status} ${response.statusText}`.trim();
  try {
    const problem = await response.json();
    detail = problem.detail || problem.title || detail;
  } catch {
    // Not JSON (a proxy's page): the status line is all there is.
  }
  return new ApiError(response.status, detail);
}

export function authorization(key) {
  return { Authorization: `Bearer ${key}` };
}

/** A client whose `get(path, params)` resolves to the JSON body or rejects with ApiError. */
export function apiClient(key) {
  async function get(path, params = {}) {
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    let response;
    try {
      response = await fetch(url, {
        headers: { ...authorization(key), Accept: "application/json" },
        cache: "no-store",
      });
    } catch (error) {
      throw new ApiError(0, `the server cannot be reached (${error.message})`);
    }
    if (!response.ok) throw await apiError(response);
    return response.json();
  }
  return { get };
}
