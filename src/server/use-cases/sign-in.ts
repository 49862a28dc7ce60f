// The state of the ACR Connect sign-in as /metrics gauges (GET /metrics; the sign-in routes are in
// auth-routes.ts).
import type { SignInStatus } from '../../outbound/acr-signin.js';

/** The sign-in's gauges for /metrics: signed in or not, seconds to each expiry, the warning flag. */
export function signInMetrics(s: SignInStatus, nowMs: number): string[] {
  const left = (iso: string | null) => (iso === null ? undefined : Math.round((Date.parse(iso) - nowMs) / 1000));
  const lines = [
    '# HELP cdsr_acr_signed_in 1 when an ACR Connect sign-in is kept and usable (0: none, refused or expired).',
    '# TYPE cdsr_acr_signed_in gauge',
    `cdsr_acr_signed_in ${s.signedIn ? 1 : 0}`,
    '# HELP cdsr_acr_signin_expiring 1 when the sign-in expires within ACR_SIGNIN_WARN_HOURS: sign in again.',
    '# TYPE cdsr_acr_signin_expiring gauge',
    `cdsr_acr_signin_expiring ${s.expiringSoon ? 1 : 0}`,
  ];
  const access = left(s.accessExpiresAt);
  if (s.signedIn && access !== undefined) {
    lines.push(
      '# HELP cdsr_acr_access_token_expiry_seconds Seconds until the kept access token expires (renewed on use).',
      '# TYPE cdsr_acr_access_token_expiry_seconds gauge',
      `cdsr_acr_access_token_expiry_seconds ${access}`,
    );
  }
  const refresh = left(s.refreshExpiresAt);
  if (s.signedIn && refresh !== undefined) {
    lines.push(
      '# HELP cdsr_acr_signin_expiry_seconds Seconds until the sign-in (its refresh token) expires.',
      '# TYPE cdsr_acr_signin_expiry_seconds gauge',
      `cdsr_acr_signin_expiry_seconds ${refresh}`,
    );
  }
  return lines;
}
