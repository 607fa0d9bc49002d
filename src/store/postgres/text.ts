// PostgreSQL text cannot hold U+0000, which the contract allows in a message_id or a text. Such strings
// are stored escaped: U+0000 -> U+0001 U+0001, U+0001 -> U+0001 U+0002. The code is prefix-free and
// keeps order (U+0000 < U+0001 before, "\x01\x01" < "\x01\x02" after), so message_id order and equality
// are unchanged; strings without either character (all real traffic) are stored as they are.

const ESCAPED = /[\u0000\u0001]/;

export function escapeNul(s: string): string {
  return ESCAPED.test(s) ? s.replace(/[\u0000\u0001]/g, (c) => (c === '\u0000' ? '\u0001\u0001' : '\u0001\u0002')) : s;
}

export function unescapeNul(s: string): string {
  return s.includes('\u0001') ? s.replace(/\u0001[\u0001\u0002]/g, (c) => (c === '\u0001\u0001' ? '\u0000' : '\u0001')) : s;
}

/** ASCII-only lower-casing, as SQLite's lower() and the SEARCH_SQL expression do. */
export function foldAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (c) => c.toLowerCase());
}

/**
 * For a text that had to be escaped, its folded UTF-8 (stored in text_nul), so q is matched on the real
 * characters: substrings of UTF-8 bytes are substrings of characters. null for every other text.
 */
export function nulBytes(text: string | null): Buffer | null {
  return text !== null && ESCAPED.test(text) ? Buffer.from(foldAscii(text), 'utf8') : null;
}

/**
 * Whether a q can be matched with LIKE on the stored (escaped) text: yes unless it holds one of the
 * characters the escape uses. Then a match cannot start or end inside an escape, so it is exact.
 */
export function plainQuery(q: string): boolean {
  return !/[\u0000-\u0002]/.test(q);
}

/** `%q%` for LIKE ... ESCAPE '\', with `%`, `_` and `\` literal. */
export function likePattern(q: string): string {
  return `%${foldAscii(q).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
