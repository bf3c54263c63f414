/**
 * The dashboard's static files (`public/`: HTML, CSS, ES modules — no build step), read once at
 * start and served from memory by name, so no request path ever reaches the file system.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { packageRoot } from '../../core/version.js';

/** One file, ready to send. */
export interface Asset {
  body: Buffer;
  /** The same bytes gzipped, made once at start. */
  gzipped: Buffer;
  contentType: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** The folder the files are in: `src/server/dashboard/public/` of the package (it ships with it). */
export const PUBLIC_DIR = join(packageRoot() ?? fileURLToPath(new URL('../../..', import.meta.url)), 'src', 'server', 'dashboard', 'public');

/** Every file of `dir` by name (one level; unknown extensions left out). */
export function loadAssets(dir = PUBLIC_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  for (const name of readdirSync(dir)) {
    const contentType = TYPES[extname(name)];
    if (!contentType) continue;
    const body = readFileSync(join(dir, name));
    assets.set(name, { body, gzipped: gzipSync(body, { level: 9 }), contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return assets;
}

/**
 * Headers every dashboard page carries: scripts and styles only from this server (no inline
 * code, so an injected string cannot run), no framing, no referrer leaking link tokens.
 */
export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};
