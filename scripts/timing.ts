// Timing side channel: does verifySignature take longer when more leading bytes of the signature match?
// Measured in-process, because network jitter is thousands of times larger than what is being looked for.
import { sign, verifySignature } from '../src/domain/signature.ts';

export type TimingResult = {
  trials: number;
  /** Median nanoseconds per call. */
  firstByteWrong: number;
  lastByteWrong: number;
  /** |first - last| / max(first, last). */
  difference: number;
  /** The same harness on a naive early-exit comparison of the same bytes: proof it can see a leak. */
  naiveDifference: number;
};

const BATCH = 200;

/** Interleaves batches of the two cases so drift and noise hit both alike; compares medians. */
export function measureSignatureTiming(trials: number): TimingResult {
  const secret = 'timing-secret';
  const body = Buffer.from(JSON.stringify({ message_id: 't', from: '+1', to: '+2', ts: '2025-01-15T10:00:00Z' }));
  const good = sign(body, secret);
  const flip = (hex: string, at: number): string => hex.slice(0, at) + (hex[at] === '0' ? '1' : '0') + hex.slice(at + 1);
  const firstWrong = flip(good, 0);
  const lastWrong = flip(good, good.length - 1);

  const goodBytes = Buffer.from(good, 'hex');
  const firstBytes = Buffer.from(firstWrong, 'hex');
  const lastBytes = Buffer.from(lastWrong, 'hex');
  const naive = (a: Buffer, b: Buffer): boolean => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  };

  const time = (fn: () => boolean): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) if (fn()) throw new Error('a wrong signature was accepted');
    return Number(process.hrtime.bigint() - start) / BATCH;
  };
  const first: number[] = [];
  const last: number[] = [];
  const naiveFirst: number[] = [];
  const naiveLast: number[] = [];
  for (let i = 0; i < trials; i++) {
    const a = (): number => time(() => verifySignature(body, firstWrong, [secret]));
    const b = (): number => time(() => verifySignature(body, lastWrong, [secret]));
    if (i % 2 === 0) {
      first.push(a());
      last.push(b());
    } else {
      last.push(b());
      first.push(a());
    }
    naiveFirst.push(time(() => naive(goodBytes, firstBytes)));
    naiveLast.push(time(() => naive(goodBytes, lastBytes)));
  }
  const f = median(first);
  const l = median(last);
  const nf = median(naiveFirst);
  const nl = median(naiveLast);
  return {
    trials,
    firstByteWrong: f,
    lastByteWrong: l,
    difference: Math.abs(f - l) / Math.max(f, l),
    naiveDifference: Math.abs(nf - nl) / Math.max(nf, nl),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
