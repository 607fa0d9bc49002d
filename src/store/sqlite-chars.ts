// Per zone of 1,024 rowids (as search_zones), how many indexed texts hold each printable ASCII
// character, ASCII case folded as LIKE folds it. A 1-character q held by most texts (`e`, a space) has
// search-index terms holding millions of entries and would otherwise read every row; with these counts
// its total is a sum over about 1,000 zones at 1M rows. Kept by the writer as it indexes rows; a row
// an operator deletes or edits marks its zone dirty (by trigger), and a dirty zone is counted row by row
// until the writer recounts it in a quiet moment.
import type { DatabaseSync } from 'node:sqlite';

/** Printable ASCII, space to tilde: a character's slot is its code minus FIRST_CODE (after folding). */
const FIRST_CODE = 0x20;
export const CHAR_SLOTS = 0x7f - FIRST_CODE;
/** rowid >> ZONE_BITS is a row's zone (search_zones uses the same). */
export const ZONE_BITS = 10;

type Row = Record<string, unknown>;

/** The slot of a 1-character q, or null when q is not one printable ASCII character. */
export function charSlot(q: string): number | null {
  if (q.length !== 1) return null;
  const code = fold(q.charCodeAt(0));
  return code >= FIRST_CODE && code < FIRST_CODE + CHAR_SLOTS ? code - FIRST_CODE : null;
}

/** How many texts of a zone hold the character of `slot`, from its stored counts. */
export function countOf(counts: Uint8Array, slot: number): number {
  return new DataView(counts.buffer, counts.byteOffset, counts.byteLength).getUint32(slot * 4, true);
}

function fold(code: number): number {
  return code >= 0x41 && code <= 0x5a ? code + 0x20 : code;
}

/** Adds one text to a zone's counts: each character it holds once, however often. */
function addText(counts: Uint32Array, text: string, seen: Uint8Array): void {
  seen.fill(0);
  for (let i = 0; i < text.length; i += 1) {
    const slot = fold(text.charCodeAt(i)) - FIRST_CODE;
    if (slot >= 0 && slot < CHAR_SLOTS && seen[slot] === 0) {
      seen[slot] = 1;
      counts[slot] = (counts[slot] ?? 0) + 1;
    }
  }
}

const fromBlob = (blob: Uint8Array): Uint32Array => Uint32Array.from({ length: CHAR_SLOTS }, (_, slot) => countOf(blob, slot));

const toBlob = (counts: Uint32Array): Uint8Array => {
  const out = new Uint8Array(CHAR_SLOTS * 4);
  const view = new DataView(out.buffer);
  counts.forEach((n, slot) => view.setUint32(slot * 4, n, true));
  return out;
};

/**
 * The writer's side: `add` counts newly indexed rows into their zones (in the caller's transaction);
 * `clean` recounts up to `limit` dirty zones from their indexed rows and says how many it did.
 */
export function charCounter(db: DatabaseSync): {
  add(rows: Iterable<Row>): void;
  clean(limit: number): number;
} {
  const getStmt = db.prepare('SELECT counts FROM search_chars WHERE zone = ?');
  const putStmt = db.prepare(
    'INSERT INTO search_chars (zone, counts) VALUES (?, ?) ON CONFLICT (zone) DO UPDATE SET counts = excluded.counts',
  );
  const dirtyStmt = db.prepare('SELECT zone FROM search_chars WHERE dirty = 1 LIMIT ?');
  dirtyStmt.setReadBigInts(true);
  const zoneTextsStmt = db.prepare(
    `SELECT rowid AS id, text FROM messages WHERE rowid BETWEEN ? AND ? AND text IS NOT NULL
     AND rowid NOT IN (SELECT id FROM search_pending)`,
  );
  zoneTextsStmt.setReadBigInts(true);
  const recountStmt = db.prepare('UPDATE search_chars SET counts = ?, dirty = 0 WHERE zone = ?');
  const dropStmt = db.prepare('DELETE FROM search_chars WHERE zone = ?');
  const seen = new Uint8Array(CHAR_SLOTS);
  const shift = BigInt(ZONE_BITS);

  return {
    add(rows) {
      const zones = new Map<bigint, Uint32Array>();
      for (const row of rows) {
        const zone = (row.id as bigint) >> shift;
        let counts = zones.get(zone);
        if (!counts) {
          const stored = getStmt.get(zone) as Row | undefined;
          counts = stored ? fromBlob(stored.counts as Uint8Array) : new Uint32Array(CHAR_SLOTS);
          zones.set(zone, counts);
        }
        addText(counts, String(row.text), seen);
      }
      for (const [zone, counts] of zones) putStmt.run(zone, toBlob(counts));
    },
    clean(limit) {
      const dirty = dirtyStmt.all(limit) as Row[];
      for (const { zone } of dirty) {
        const z = zone as bigint;
        const counts = new Uint32Array(CHAR_SLOTS);
        let texts = 0;
        for (const row of zoneTextsStmt.iterate(z << shift, ((z + 1n) << shift) - 1n) as Iterable<Row>) {
          addText(counts, String(row.text), seen);
          texts += 1;
        }
        if (texts === 0) dropStmt.run(z);
        else recountStmt.run(toBlob(counts), z);
      }
      return dirty.length;
    },
  };
}
