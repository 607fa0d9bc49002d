/** One FastAPI-style validation problem: `{"loc":["body","from"],"msg":"...","type":"..."}`. */
export type FieldError = { loc: (string | number)[]; msg: string; type: string };

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Characters as a user counts them (code points), not UTF-16 units. */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n += 1;
  return n;
}
