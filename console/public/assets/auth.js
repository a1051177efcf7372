// Sign-in: OAuth 2.0 authorization code with PKCE (RFC 7636) against the issuer named by
// GET /api/console/config (Cognito's hosted UI in AWS, the local gateway's sign-in page locally).
// The console is a public client: no secret. Tokens live in sessionStorage (gone with the tab),
// and who is signed in is read from the ID token's claims only.

const TOKENS = 'reelay.tokens';
const PENDING = 'reelay.signin';

function base64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(bytes = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeFor(verifier) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/// The payload of a JWT, unverified: the API verifies tokens; the console only shows who it is.
export function claimsOf(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(part), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

export function redirectUri() {
  return `${location.origin}/`;
}

export function session() {
  let tokens;
  try { tokens = JSON.parse(sessionStorage.getItem(TOKENS)); } catch { tokens = null; }
  if (!tokens?.access_token) return null;
  if (tokens.expires_at && Date.now() > tokens.expires_at - 30_000) {
    sessionStorage.removeItem(TOKENS);
    return null;
  }
  const claims = claimsOf(tokens.id_token || tokens.access_token) || {};
  return { accessToken: tokens.access_token, claims, name: displayName(claims) };
}

export function displayName(claims) {
  return claims.name || claims.email || claims['cognito:username'] || claims.preferred_username
    || claims.username || claims.sub || 'you';
}

/// Sends the browser to the issuer's sign-in page; `returnHash` is where to come back to.
export async function signIn(signInConfig, returnHash) {
  const verifier = randomString(48);
  const state = randomString(24);
  sessionStorage.setItem(PENDING, JSON.stringify({ state, verifier, returnHash }));
  const url = new URL(signInConfig.authorize_url);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: signInConfig.client_id,
    redirect_uri: redirectUri(),
    scope: signInConfig.scope,
    state,
    code_challenge: await challengeFor(verifier),
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

/// Finishes a sign-in when the issuer sent the browser back with `code` and `state`. Returns the
/// hash to show next, or null when this page load is not a sign-in's return. Throws an Error
/// with a plain message when the sign-in failed.
export async function completeSignIn(signInConfig) {
  const params = new URLSearchParams(location.search);
  if (!params.has('state') || !(params.has('code') || params.has('error'))) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  // The code is single-use and the URL is history: drop it from the address bar at once.
  history.replaceState(null, '', `${location.pathname}${pending?.returnHash || '#/platforms'}`);
  if (params.has('error')) {
    throw new Error(`Sign-in was not completed: ${params.get('error_description') || params.get('error')}.`);
  }
  if (!pending || pending.state !== params.get('state')) {
    throw new Error('This sign-in was not started in this tab (or it was already used). Please sign in again.');
  }
  const response = await fetch(signInConfig.token_url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code'),
      redirect_uri: redirectUri(),
      client_id: signInConfig.client_id,
      code_verifier: pending.verifier,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) {
    throw new Error(`The sign-in service refused the sign-in (${body.error_description || body.error || response.status}). Please sign in again.`);
  }
  sessionStorage.setItem(TOKENS, JSON.stringify({
    access_token: body.access_token,
    id_token: body.id_token || null,
    expires_at: body.expires_in ? Date.now() + body.expires_in * 1000 : null,
  }));
  return pending.returnHash || '#/platforms';
}

export function forget() {
  sessionStorage.removeItem(TOKENS);
}

/// Forgets the tokens and ends the issuer's session too (Cognito's /logout).
export function signOut(signInConfig) {
  forget();
  if (!signInConfig) { location.reload(); return; }
  const url = new URL(signInConfig.logout_url);
  url.search = new URLSearchParams({ client_id: signInConfig.client_id, logout_uri: redirectUri() }).toString();
  location.assign(url.toString());
}
