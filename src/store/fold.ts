// SPEC (GET /messages, q): text and q are compared after NFC normalisation and Unicode full case folding,
// accents kept. Both engines store fold(text) and match fold(q) against it, so the one function below
// decides every answer, whatever the database's locale. JavaScript has no casefold(): the full mapping is
// built from its locale-independent case conversions and checked, code point by code point, against
// perl's fc() (test/store/fold.test.ts).

// Lower, upper, lower: reaches the full folding of every code point (ß -> ss, ẞ -> ss, ŉ -> ʼn, U+0345 ->
// ι), except three families that CaseFolding.txt treats otherwise, fixed below.
const roundTrip = (s: string): string => s.toLowerCase().toUpperCase().toLowerCase();
// Cherokee folds to its capital letters (they were encoded first), not to the small ones.
const CHEROKEE_SMALL = /[\u13F8-\u13FD\uAB70-\uABBF]/g;

const PLAIN = /^[\x00-\x7F\u200D\u2600-\u27BF\uFE0F\u{1F300}-\u{1FAFF}]*$/u;

/** NFC, then full case folding (CaseFolding.txt statuses C and F, without the Turkic T), then NFC again. */
export function fold(text: string): string {
  // ASCII and emoji, most of the traffic: folding is lower-casing (emoji, their joiner and variation
  // selector have no case), and they are NFC already, whatever their neighbours.
  if (PLAIN.test(text)) return text.toLowerCase();
  const folded = text
    .normalize('NFC')
    // Dotless ı folds to itself, but its round trip through I would give i.
    .split('ı')
    .map(roundTrip)
    .join('ı')
    // toLowerCase() writes a word-final capital sigma as ς; folding has one sigma, σ.
    .replaceAll('ς', 'σ')
    .replace(CHEROKEE_SMALL, (c) => c.toUpperCase());
  // Folding can leave a sequence that has a composed form (ΐ, from Ϊ́): both sides compose it alike.
  return folded.normalize('NFC');
}
