/** One FastAPI-style validation problem: `{"loc":["body","from"],"msg":"...","type":"..."}`. */
export type FieldError = { loc: (string | number)[]; msg: string; type: string };

/** A query parameter given more than once (SPEC: 422 naming it, on every endpoint that takes filters). */
export function repeatedParameter(name: string): FieldError {
  return { loc: ['query', name], msg: 'Parameter given more than once', type: 'duplicate_parameter' };
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Characters as a user counts them (code points), not UTF-16 units. */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n += 1;
  return n;
}
