// Builds a large database fast, straight into the file, in the seed's original schema (the contract's
// `messages` table and `(ts, message_id)` index): the service then migrates it as it would a real one.
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SEED_TABLE } from '../src/store/sqlite/schema.ts';
import { createRandom } from '../tools/prng.ts';

export type SeedOptions = { rows: number; senders: number; days: number; start: string };

/** What the queries of the benchmark can ask for, chosen from the data that was written. */
export type SeedFacts = {
  rows: number;
  seconds: number;
  /** A word in about 1 message in 10,000: a selective search. */
  rareWord: string;
  /** A word in about 1 message in 5: a broad search. */
  commonWord: string;
  /** A Cyrillic word in about 1 message in 5, asked in capitals: a broad search that needs Unicode folding. */
  commonNonAsciiWord: string;
  /** A typical sender (a few dozen messages) and a heavy one (thousands). */
  sender: string;
  heavySender: string;
  firstTs: string;
  lastTs: string;
};

const FIRST = ['Asha', 'Ravi', 'Maria', 'John', 'Wei', 'Fatima', 'Lucas', 'Amara', 'Kenji', 'Olga', 'Pedro', 'Zainab', 'Noah', 'Priya', 'Omar', 'Elena'];
const CITIES = ['Mumbai', 'Lagos', 'Sao Paulo', 'Jakarta', 'Cairo', 'Berlin', 'Nairobi', 'Lima', 'Manila', 'Dhaka', 'Hanoi', 'Madrid', 'Karachi', 'Bogota'];
const ITEMS = ['invoice', 'parcel', 'ticket', 'booking', 'refund', 'appointment', 'delivery', 'payment', 'prescription', 'subscription'];
const STATUS = ['confirmed', 'on its way', 'delayed', 'ready for pickup', 'cancelled', 'received', 'due tomorrow'];
const TEMPLATES = [
  (r: Pick) => `Hi ${r(FIRST)}, your ${r(ITEMS)} #${r.n(99999)} is ${r(STATUS)}.`,
  (r: Pick) => `Hello! Can we move the ${r(ITEMS)} to ${r.n(12) + 1}pm? I am stuck in traffic in ${r(CITIES)}.`,
  (r: Pick) => `Thanks ${r(FIRST)}, got it. See you in ${r(CITIES)} next week.`,
  (r: Pick) => `Reminder: your ${r(ITEMS)} of ${r.n(5000)} INR is ${r(STATUS)}. Reply STOP to opt out.`,
  (r: Pick) => `ok`,
  (r: Pick) => `Where is my order? It has been ${r.n(9) + 2} days and the tracking still says ${r(STATUS)}.`,
  (r: Pick) => `Your one-time code is ${String(r.n(1_000_000)).padStart(6, '0')}. Do not share it with anyone.`,
  (r: Pick) => `Happy birthday ${r(FIRST)}!! Party at ${r.n(9) + 1} in ${r(CITIES)}, bring snacks`,
  (r: Pick) => `Can you send the ${r(ITEMS)} again? The last one did not open on my phone.`,
  (r: Pick) => `Meeting moved to ${['Monday', 'Tuesday', 'Friday'][r.n(3)]}. Agenda: ${r(ITEMS)} review, hiring, order backlog.`,
];
// About 1 message in 5 is in Russian, most with "заказ" (order) in one case or another.
const RU_STATUS = ['подтверждён', 'в пути', 'задерживается', 'готов к выдаче', 'отменён', 'получен'];
const RU_TEMPLATES = [
  (r: Pick) => `Здравствуйте, ${r(FIRST)}! Ваш заказ №${r.n(99999)} ${r(RU_STATUS)}.`,
  (r: Pick) => `ЗАКАЗ ${r.n(99999)}: ${r(RU_STATUS)}. Спасибо, что выбрали нас!`,
  (r: Pick) => `Заказ ${r.n(99999)} ${r(RU_STATUS)}, курьер позвонит за час.`,
];
// One of these in about 1 message in 1,000, so each is about 1 in 10,000.
const RARE = ['kumquat', 'zeppelin', 'quokka', 'marzipan', 'theremin', 'axolotl', 'saffron', 'origami', 'tundra', 'gazpacho'];

type Pick = (<T>(list: readonly T[]) => T) & { n(max: number): number };

/** The project's seeded generator (tools/prng.ts), shaped for the templates: the same data on every run. */
function generator(seed: number): { next: () => number; pick: Pick } {
  const random = createRandom(seed);
  const pick = (<T>(list: readonly T[]): T => random.pick(list)) as Pick;
  pick.n = random.int;
  return { next: random.next, pick };
}

export function seedDatabase(path: string, options: SeedOptions): SeedFacts {
  const started = performance.now();
  mkdirSync(dirname(path), { recursive: true });
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
  const db = new DatabaseSync(path);
  // A throwaway build: no journal, no fsync. The service switches the file to WAL when it opens it.
  db.exec('PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144');
  db.exec(SEED_TABLE);
  const insert = db.prepare('INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)');
  const { next, pick } = generator(42);
  const startMs = Date.parse(options.start);
  const stepMs = (options.days * 86_400_000) / options.rows;
  const sender = (i: number): string => `+91${String(9_000_000_000 + i * 7919)}`;
  const hex = (): string => Math.floor(next() * 2 ** 32).toString(16).padStart(8, '0');
  db.exec('BEGIN');
  for (let i = 0; i < options.rows; i += 1) {
    // Mostly in arrival order with jitter; a quarter carry milliseconds, as some senders do.
    const ms = Math.floor(startMs + i * stepMs + next() * 60_000);
    const iso = new Date(ms).toISOString();
    const ts = i % 4 === 0 ? iso : iso.slice(0, 19) + 'Z';
    // Skewed senders: a few send thousands of messages, most a few dozen.
    const from = sender(Math.floor(next() ** 2 * options.senders));
    let text: string | null = next() < 0.2 ? pick(RU_TEMPLATES)(pick) : pick(TEMPLATES)(pick);
    if (next() < 0.001) text += ` PS: ${pick(RARE)}`;
    if (next() < 0.02) text = null;
    insert.run(`${hex()}${hex()}-${i.toString(36)}`, from, '+14155550100', ts, text, iso);
  }
  db.exec('COMMIT');
  db.exec('CREATE INDEX idx_messages_ts ON messages (ts, message_id)');
  const firstTs = String((db.prepare('SELECT min(ts) AS t FROM messages').get() as { t: unknown }).t);
  const lastTs = String((db.prepare('SELECT max(ts) AS t FROM messages').get() as { t: unknown }).t);
  db.close();
  return {
    rows: options.rows,
    seconds: (performance.now() - started) / 1000,
    rareWord: 'kumquat',
    commonWord: 'order',
    commonNonAsciiWord: 'ЗАКАЗ',
    sender: sender(Math.floor(options.senders * 0.7)),
    heavySender: sender(0),
    firstTs,
    lastTs,
  };
}
