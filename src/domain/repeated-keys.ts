// JSON.parse keeps the last of two equal keys, silently: `{"message_id":"a","message_id":"b"}` would be
// stored as "b" while a proxy or a log in front may have read "a". This finds such repeats.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * The keys of `names` that the top-level object of `json` holds more than once, in order of their second
 * appearance. `json` must already have parsed as an object: this only walks its structure (strings
 * skipped whole, nesting counted), one pass with no allocation beyond the keys compared.
 */
export function repeatedKeys(json: string, names: ReadonlySet<string>): string[] {
  const seen = new Set<string>();
  const repeated: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < json.length; i += 1) {
    const c = json.charCodeAt(i);
    if (c === QUOTE) {
      const end = closingQuote(json, i);
      if (depth === 1 && expectKey) {
        const raw = json.slice(i + 1, end);
        // An escaped key (`"message\u005fid"`) is the same key: decoded before it is compared.
        const key = raw.includes('\\') ? (JSON.parse(json.slice(i, end + 1)) as string) : raw;
        if (names.has(key)) {
          if (seen.has(key) && !repeated.includes(key)) repeated.push(key);
          seen.add(key);
        }
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      depth += 1;
      expectKey = depth === 1;
    } else if (c === 0x7d || c === 0x5d) {
      depth -= 1;
    } else if (c === COMMA && depth === 1) {
      expectKey = true;
    }
  }
  return repeated;
}

/** The index of the quote that ends the string opening at `start` (one preceded by an even run of backslashes). */
function closingQuote(json: string, start: number): number {
  let end = json.indexOf('"', start + 1);
  while (end !== -1) {
    let backslashes = 0;
    while (json.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return end;
    end = json.indexOf('"', end + 1);
  }
  return json.length; // unreachable for text JSON.parse accepted
}
