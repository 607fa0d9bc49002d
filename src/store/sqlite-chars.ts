// Per zone of 1,024 rowids (as search_zones), how many indexed texts hold each character, and each pair
// of adjacent ASCII characters (ASCII case folded, as LIKE folds). A 1-character q held by most texts
// (`e`, a space, a Cyrillic `о` in Russian texts) has search-index terms holding millions of entries and
// would otherwise read every row; so has a common pair (`in`, in 7 English texts in 10: 60-140 ms to
// merge its terms at 1M rows). With these counts the total is one lookup per zone, about 1,000 at 1M
// rows. Pairs are kept for ASCII only: other scripts' pairs are many more and far rarer each, and
// the search index counts them quickly. Kept by the writer as it indexes rows; a row an operator deletes
// or edits marks its zone dirty (search_dirty, by trigger), and a dirty zone is counted row by row until
// the writer recounts it in a quiet moment.
import type { DatabaseSync } from 'node:sqlite';

/** rowid >> ZONE_BITS is a row's zone (search_zones uses the same). */
export const ZONE_BITS = 10;
const SHIFT = BigInt(ZONE_BITS);

type Row = Record<string, unknown>;

const ASCII = 0x80;
/** Counted pairs are keyed above every code point: PAIR_BASE + first * ASCII + second. */
const PAIR_BASE = 0x110000;
const charsOf = (key: number): string =>
  key < PAIR_BASE ? String.fromCodePoint(key) : String.fromCharCode(((key - PAIR_BASE) / ASCII) | 0, (key - PAIR_BASE) % ASCII);

/** The first and last rowid of zones `first` to `last`, as BigInt (SQLite then binds integers). */
export function zoneRowids(first: bigint, last: bigint = first): [bigint, bigint] {
  return [first << SHIFT, ((last + 1n) << SHIFT) - 1n];
}

/**
 * The writer's side: `add` counts newly indexed rows into their zones (in the caller's transaction);
 * `clean` recounts up to `limit` dirty zones from their indexed rows and says how many it did.
 */
export function charCounter(db: DatabaseSync): {
  add(rows: Iterable<Row>): void;
  dirty(): boolean;
  clean(limit: number): number;
} {
  const addStmt = db.prepare(
    'INSERT INTO search_chars (zone, ch, n) VALUES (?, ?, ?) ON CONFLICT (zone, ch) DO UPDATE SET n = n + excluded.n',
  );
  const anyDirtyStmt = db.prepare('SELECT 1 FROM search_dirty LIMIT 1');
  const dirtyStmt = db.prepare('SELECT zone FROM search_dirty LIMIT ?');
  dirtyStmt.setReadBigInts(true);
  const zoneTextsStmt = db.prepare(
    `SELECT rowid AS id, text FROM messages WHERE rowid BETWEEN ? AND ? AND text IS NOT NULL
     AND rowid NOT IN (SELECT id FROM search_pending)`,
  );
  zoneTextsStmt.setReadBigInts(true);
  const dropStmt = db.prepare('DELETE FROM search_chars WHERE zone = ?');
  const cleanStmt = db.prepare('DELETE FROM search_dirty WHERE zone = ?');

  // One zone's counts at a time, by code point (a few microseconds a text less than strings in a Map):
  // rows come in rowid order, so a zone's rows are together; were they not, a zone would be stored
  // twice, which adds up the same. `seen` marks what the current text already counted.
  const counts = new Map<number, number>();
  const seen = new Uint32Array(0x10000);
  const seenAstral = new Set<number>();
  let text = 0;
  const count = (code: number): void => void counts.set(code, (counts.get(code) ?? 0) + 1);
  const seenPair = new Uint32Array(ASCII * ASCII);
  const addText = (value: string): void => {
    text = (text + 1) >>> 0 || 1;
    seenAstral.clear();
    // The previous code point when it was ASCII (folded), else -1: pairs of two ASCII ones are counted.
    let prev = -1;
    for (let i = 0; i < value.length; i += 1) {
      let code = value.charCodeAt(i);
      const low = code >= 0xd800 && code <= 0xdbff ? value.charCodeAt(i + 1) : 0;
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i += 1;
        prev = -1;
        if (!seenAstral.has(code)) {
          seenAstral.add(code);
          count(code);
        }
        continue;
      }
      // A to Z folded, as foldAscii folds q (sqlite-list.ts) and lower() the indexed text.
      if (code >= 0x41 && code <= 0x5a) code += 0x20;
      if (code < ASCII) {
        if (prev !== -1) {
          const pair = prev * ASCII + code;
          if (seenPair[pair] !== text) {
            seenPair[pair] = text;
            count(PAIR_BASE + pair);
          }
        }
        prev = code;
      } else prev = -1;
      if (seen[code] === text) continue;
      seen[code] = text;
      count(code);
    }
  };
  const store = (zone: bigint): void => {
    for (const [code, n] of counts) addStmt.run(zone, charsOf(code), n);
    counts.clear();
  };
  const addRows = (rows: Iterable<Row>): void => {
    let zone: bigint | null = null;
    for (const row of rows) {
      const z = (row.id as bigint) >> SHIFT;
      if (zone !== null && z !== zone) store(zone);
      zone = z;
      addText(String(row.text));
    }
    if (zone !== null) store(zone);
  };

  return {
    add: addRows,
    /** Whether a zone waits for a recount: read without a write transaction, so a quiet writer takes no lock. */
    dirty: () => anyDirtyStmt.get() !== undefined,
    clean(limit) {
      const dirty = dirtyStmt.all(limit) as Row[];
      for (const { zone } of dirty) {
        const z = zone as bigint;
        dropStmt.run(z);
        addRows(zoneTextsStmt.iterate(...zoneRowids(z)) as Iterable<Row>);
        cleanStmt.run(z);
      }
      return dirty.length;
    },
  };
}
