// JSON.parse keeps the last of two equal keys, silently: `{"message_id":"a","message_id":"b"}` would be
// stored as "b" while a proxy or a log in front may have read "a". This finds such repeats.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * A finder of the keys of `names` (at most 31) that the top-level object of a JSON text holds more than
 * once, in order of their second appearance. The text must already have parsed as an object: this only
 * walks its structure (strings skipped whole, nesting counted), in one pass that allocates nothing unless
 * a key may be one of `names`.
 */
export function repeatedKeyFinder(names: readonly string[]): (json: string) => string[] {
  const lengths = new Set(names.map((n) => n.length));
  return (json) => repeatedKeys(json, names, lengths);
}

function repeatedKeys(json: string, names: readonly string[], lengths: ReadonlySet<number>): string[] {
  let seen = 0; // one bit per name
  let repeated: string[] | null = null;
  let depth = 0;
  let expectKey = false;
  let backslash = json.indexOf('\\'); // the next one at or after where we are; -1: none left
  for (let i = 0; i < json.length; i += 1) {
    const c = json.charCodeAt(i);
    if (c === QUOTE) {
      const end = closingQuote(json, i);
      if (depth === 1 && expectKey) {
        if (backslash !== -1 && backslash <= i) backslash = json.indexOf('\\', i + 1);
        const escaped = backslash !== -1 && backslash < end;
        // An escaped key (`"message\u005fid"`) is the same key: decoded before it is compared.
        if (escaped || lengths.has(end - i - 1)) {
          const key = escaped ? (JSON.parse(json.slice(i, end + 1)) as string) : json.slice(i + 1, end);
          const index = names.indexOf(key);
          if (index !== -1) {
            if ((seen & (1 << index)) !== 0 && !repeated?.includes(key)) (repeated ??= []).push(key);
            seen |= 1 << index;
          }
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
  return repeated ?? [];
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
