// A seeded pseudo-random generator, hand-written so the fuzz and soak runs need no package and replay
// exactly from their printed seed.

export type Random = {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
};

/** mulberry32: 32 bits of state, good enough spread for test input, and trivially reproducible. */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from nothing');
      return items[int(items.length)] as (typeof items)[number];
    },
    chance: (p) => next() < p,
  };
}

/** The seed from `envName` when set (to replay a failure), otherwise a fresh one. */
export function seedFrom(envName: string, env: Readonly<Record<string, string | undefined>> = process.env): number {
  const raw = env[envName];
  if (raw !== undefined && raw.trim() !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`${envName} must be an integer from 0 to 4294967295`);
    return n;
  }
  return Math.floor(Math.random() * 0xffffffff);
}
