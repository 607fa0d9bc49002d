// Per zone of 1,024 rowids (as search_zones), how many indexed texts hold each character (ASCII case
// folded, as LIKE folds). A 1-character q held by most texts (`e`, a space, a Cyrillic `о` in Russian
// texts) has search-index terms holding millions of entries and would otherwise read every row; with
// these counts its total is one lookup per zone, about 1,000 at 1M rows. Kept by the writer as it
// indexes rows; a row an operator deletes or edits marks its zone dirty (search_dirty, by trigger), and
// a dirty zone is counted row by row until the writer recounts it in a quiet moment.
import type { DatabaseSync } from 'node:sqlite';

/** rowid >> ZONE_BITS is a row's zone (search_zones uses the same). */
export const ZONE_BITS = 10;

type Row = Record<string, unknown>;

/** A 1-character q as the counts key it (ASCII folded), or null when q is not one character. */
export function countedChar(q: string): string | null {
  const chars = Array.from(q);
  return chars.length === 1 && chars[0] !== undefined ? fold(chars[0]) : null;
}

function fold(ch: string): string {
  return ch >= 'A' && ch <= 'Z' ? ch.toLowerCase() : ch;
}

/** Adds one text to a zone's counts: each character it holds once, however often. */
function addText(counts: Map<string, number>, text: string): void {
  for (const ch of new Set(Array.from(text, fold))) counts.set(ch, (counts.get(ch) ?? 0) + 1);
}

/**
 * The writer's side: `add` counts newly indexed rows into their zones (in the caller's transaction);
 * `clean` recounts up to `limit` dirty zones from their indexed rows and says how many it did.
 */
export function charCounter(db: DatabaseSync): {
  add(rows: Iterable<Row>): void;
  clean(limit: number): number;
} {
  const addStmt = db.prepare(
    'INSERT INTO search_chars (zone, ch, n) VALUES (?, ?, ?) ON CONFLICT (zone, ch) DO UPDATE SET n = n + excluded.n',
  );
  const dirtyStmt = db.prepare('SELECT zone FROM search_dirty LIMIT ?');
  dirtyStmt.setReadBigInts(true);
  const zoneTextsStmt = db.prepare(
    `SELECT text FROM messages WHERE rowid BETWEEN ? AND ? AND text IS NOT NULL
     AND rowid NOT IN (SELECT id FROM search_pending)`,
  );
  const dropStmt = db.prepare('DELETE FROM search_chars WHERE zone = ?');
  const cleanStmt = db.prepare('DELETE FROM search_dirty WHERE zone = ?');
  const shift = BigInt(ZONE_BITS);
  const store = (zone: bigint, counts: Map<string, number>): void => {
    for (const [ch, n] of counts) addStmt.run(zone, ch, n);
  };

  return {
    add(rows) {
      const zones = new Map<bigint, Map<string, number>>();
      for (const row of rows) {
        const zone = (row.id as bigint) >> shift;
        let counts = zones.get(zone);
        if (!counts) zones.set(zone, (counts = new Map()));
        addText(counts, String(row.text));
      }
      for (const [zone, counts] of zones) store(zone, counts);
    },
    clean(limit) {
      const dirty = dirtyStmt.all(limit) as Row[];
      for (const { zone } of dirty) {
        const z = zone as bigint;
        const counts = new Map<string, number>();
        for (const row of zoneTextsStmt.iterate(z << shift, ((z + 1n) << shift) - 1n) as Iterable<Row>) addText(counts, String(row.text));
        dropStmt.run(z);
        store(z, counts);
        cleanStmt.run(z);
      }
      return dirty.length;
    },
  };
}
