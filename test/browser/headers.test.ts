// The headers of GET /inbox and its files, read as a security reviewer would (no browser needed).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FILES } from '../../src/http/handlers/inbox.ts';
import { useApp } from '../helpers.ts';


/** A CSP header as a map of directive -> its sources. */
function directives(csp: string): Map<string, string[]> {
  return new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([name = '', ...sources]) => [name, sources]));
}

describe('GET /inbox', () => {
  const app = useApp({ readTokens: ['reader'] });

  test('every file of the page comes with a same-origin-only CSP, nosniff and no referrer, even with read tokens set', async () => {
    for (const [path, , type] of FILES) {
      const res = await fetch(`${app().url}${path}`);
      const body = await res.text();
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-type'), type, path);
      assert.ok(body.length > 100, path);
      const csp = directives(res.headers.get('content-security-policy') ?? '');
      assert.deepEqual(csp.get('default-src'), ["'self'"], path);
      assert.deepEqual(csp.get('frame-ancestors'), ["'none'"], path);
      assert.deepEqual(csp.get('object-src'), ["'none'"], path);
      assert.deepEqual(csp.get('base-uri'), ["'none'"], path);
      // No directive loosens default-src: nothing inline, no eval, no other origin.
      for (const [name, sources] of csp) {
        assert.ok(sources.every((s) => ["'self'", "'none'"].includes(s)), `${path}: ${name} ${sources.join(' ')}`);
      }
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer', path);
      assert.equal(res.headers.get('x-frame-options'), 'DENY', path);
    }
  });

  test('every file that make build leaves in dist/inbox/ is served, and nothing else is', async () => {
    const built = readdirSync(join(import.meta.dirname, '..', '..', 'dist', 'inbox')).sort();
    assert.deepEqual(FILES.map(([, file]) => file).sort(), built);
    const html = await (await fetch(`${app().url}/inbox`)).text();
    // Each module the entry imports is fetched at once with it, not one import level after another;
    // erase.js only when a person first asks to erase.
    const preloaded = [...html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map((m) => m[1]);
    const later = ['/inbox/inbox.js', '/inbox/erase.js'];
    assert.deepEqual(preloaded.sort(), FILES.map(([path]) => path).filter((p) => p.endsWith('.js') && !later.includes(p)).sort());
    assert.equal((await fetch(`${app().url}/inbox/nope.js`)).status, 404);
  });

  test('the page has no inline script, style attribute or other origin, and HEAD answers like GET without a body', async () => {
    const html = await (await fetch(`${app().url}/inbox`)).text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc="\/inbox\/)/);
    assert.doesNotMatch(html, /\sstyle=|\son[a-z]+=|javascript:/i);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
    const head = await fetch(`${app().url}/inbox`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    assert.ok(head.headers.get('content-security-policy'));
    const post = await fetch(`${app().url}/inbox`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });
});
