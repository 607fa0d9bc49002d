// Timing side channel: does a check take longer when more leading bytes of a wrong credential match?
// Measured in-process, because network jitter is thousands of times larger than what is being looked for.
// Every credential the service compares is measured: X-Signature, a Standard Webhooks v1 signature, and
// a bearer token of the read endpoints.
import { sign, verifySignature } from '../src/domain/signature.ts';
import { parseStandardKey, signStandard, verifyStandard, type StandardKey } from '../src/domain/standard-webhooks.ts';
import { requireBearer } from '../src/http/auth.ts';
import type { Req } from '../src/http/request.ts';

export type TimingResult = {
  name: string;
  trials: number;
  /** Median nanoseconds per call. */
  firstByteWrong: number;
  lastByteWrong: number;
  /** |first - last| / max(first, last). */
  difference: number;
  /**
   * Sign test over the paired batches: how many standard deviations the count of pairs in which the
   * first-wrong batch was slower lies from half. Without a leak the two are exchangeable (interleaved,
   * alternating order), so load can only add noise to both: |z| > 5 happens by chance about once in
   * 1.7 million runs.
   */
  z: number;
};

/** A leak is reported only when the difference is both large and far beyond chance. */
export const TIMING_TOLERANCE = 0.03;
export const TIMING_Z = 5;

export function leaks(r: TimingResult): boolean {
  return r.difference > TIMING_TOLERANCE && Math.abs(r.z) > TIMING_Z;
}

const BATCH = 200;

/** One credential check: true when it accepts; `wrong` is the credential with one character changed. */
type Case = { name: string; accepts(wrong: 'first' | 'last'): boolean };

/** Changes the character at `at` (from the start, or from the end when negative) to another of its alphabet. */
const flip = (text: string, at: number): string => {
  const i = at < 0 ? text.length + at : at;
  return text.slice(0, i) + (text[i] === 'A' ? 'B' : 'A') + text.slice(i + 1);
};

function cases(): Case[] {
  const body = Buffer.from(JSON.stringify({ message_id: 't', from: '+1', to: '+2', ts: '2025-01-15T10:00:00Z' }));
  const secret = 'timing-secret';
  // Hex: flipping to A/B keeps it hex; the first and last digits, not the prefix or padding.
  const good = sign(body, secret).toUpperCase();
  const signature = { first: flip(good, 0).toLowerCase(), last: flip(good, -1).toLowerCase() };

  const parsed = parseStandardKey('whsec_' + Buffer.from('timing-standard-secret').toString('base64'));
  if (!parsed.ok) throw new Error(parsed.error);
  const keys: StandardKey[] = [parsed.key];
  const [id, timestamp] = ['msg_timing', '1700000000'];
  const v1 = signStandard(parsed.key, id, timestamp, body);
  // After "v1,"; at the end, the last character whose six bits are all the MAC's (before it come 2 padding bits and "=").
  const standard = { first: flip(v1, 3), last: flip(v1, -3) };
  const clock = { nowSeconds: 1_700_000_000, toleranceSeconds: 300 };

  const token = 'read-token-0123456789abcdefghijklmnopqrstuvwxyz';
  const guarded = requireBearer([token], () => {}, () => ({ status: 200, body: '' }) as never);
  const bearer = { first: flip(token, 0), last: flip(token, -1) };
  const request = (value: string): Req => ({ headers: { authorization: `Bearer ${value}` } }) as unknown as Req;
  const requests = { first: request(bearer.first), last: request(bearer.last) };

  return [
    { name: 'X-Signature', accepts: (w) => verifySignature(body, signature[w], [secret]) },
    { name: 'Standard Webhooks v1', accepts: (w) => verifyStandard(body, { id, timestamp, signature: standard[w] }, keys, clock) === 'ok' },
    { name: 'bearer token', accepts: (w) => (guarded(requests[w]) as { status: number }).status === 200 },
  ];
}

/** Interleaves batches of the two cases so drift and noise hit both alike; compares medians. */
function measure(c: Case, trials: number): TimingResult {
  const time = (wrong: 'first' | 'last'): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) if (c.accepts(wrong)) throw new Error(`${c.name}: a wrong credential was accepted`);
    return Number(process.hrtime.bigint() - start) / BATCH;
  };
  const first: number[] = [];
  const last: number[] = [];
  for (let i = 0; i < trials; i++) {
    if (i % 2 === 0) {
      first.push(time('first'));
      last.push(time('last'));
    } else {
      last.push(time('last'));
      first.push(time('first'));
    }
  }
  const f = median(first);
  const l = median(last);
  const slowerFirst = first.filter((x, i) => x > (last[i] ?? x)).length;
  const ties = first.filter((x, i) => x === last[i]).length;
  const n = trials - ties;
  const z = n === 0 ? 0 : (slowerFirst - n / 2) / Math.sqrt(n / 4);
  return { name: c.name, trials, firstByteWrong: f, lastByteWrong: l, difference: Math.abs(f - l) / Math.max(f, l), z };
}

/** Each credential check, then a naive early-exit comparison on the same harness: proof it can see a leak. */
export function measureTimings(trials: number): { results: TimingResult[]; naive: TimingResult } {
  const results = cases().map((c) => measure(c, trials));
  const good = Buffer.from(sign('naive', 'timing-secret'), 'hex');
  const wrong = { first: Buffer.from(good), last: Buffer.from(good) };
  wrong.first[0] = (good[0] ?? 0) ^ 1;
  wrong.last[good.length - 1] = (good[good.length - 1] ?? 0) ^ 1;
  const naive = measure(
    {
      name: 'naive comparison',
      accepts: (w) => {
        const b = wrong[w];
        for (let i = 0; i < good.length; i++) if (good[i] !== b[i]) return false;
        return true;
      },
    },
    trials,
  );
  return { results, naive };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
