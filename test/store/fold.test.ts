// fold() (src/store/fold.ts) against perl's fc(), the full case folding of perl's Unicode tables, over
// every code point perl knows; and the SPEC's examples.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fold } from '../../src/store/fold.ts';

// Reads one string a line (code points in hex); writes its fc() in hex, or '-' when perl's Unicode does
// not assign one of its characters (newer than perl's tables, so not comparable).
const PERL = `use v5.36; use feature "fc", "unicode_strings";
while (my $line = <STDIN>) {
  chomp $line; my $s = join "", map { chr hex } split / /, $line;
  say $s =~ /\\P{Assigned}/ ? "-" : join " ", map { sprintf "%X", ord } split //, fc($s);
}`;

const hex = (s: string): string => [...s].map((c) => (c.codePointAt(0) ?? 0).toString(16).toUpperCase()).join(' ');

test('fold agrees with perl fc() on every code point perl assigns (NFC before and after)', () => {
  const inputs: string[] = [];
  for (let cp = 0; cp <= 0x10ffff; cp += 1) if (cp < 0xd800 || cp > 0xdfff) inputs.push(String.fromCodePoint(cp).normalize('NFC'));
  const perl = spawnSync('perl', ['-e', PERL], { input: inputs.map(hex).join('\n') + '\n', encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(perl.status, 0, `perl failed: ${perl.stderr}`);
  const answers = perl.stdout.split('\n');
  let compared = 0;
  const wrong: string[] = [];
  inputs.forEach((input, i) => {
    const answer = answers[i];
    if (answer === '-') return;
    compared += 1;
    const want = answer === '' ? '' : String.fromCodePoint(...(answer ?? '').split(' ').map((h) => parseInt(h, 16)));
    if (fold(input) !== want.normalize('NFC')) wrong.push(`${hex(input)} -> ${hex(fold(input))}, fc ${answer}`);
  });
  assert.deepEqual(wrong.slice(0, 20), []);
  assert.ok(compared > 250_000, `only ${compared} code points compared`);
});

test('fold: the SPEC examples and the scripts the contract names', () => {
  const same = (a: string, b: string): void => assert.equal(fold(a), fold(b), `${a} / ${b}`);
  same('STRASSE', 'Straße');
  same('ẞ', 'ss');
  same('ЁЛКА', 'ёлка');
  same('ΣΟΦΟΣ', 'σοφος');
  same('ΣΟΦΟΣ', 'σοφοσ');
  same('Ä', 'ä');
  same('e\u0301', 'é');
  same('İ', 'i\u0307');
  assert.notEqual(fold('cafe'), fold('café'));
  assert.notEqual(fold('ı'), fold('i'));
  for (const untouched of ['नमस्ते दुनिया', '👋🏽 🇮🇳', '東京', 'a\u0000b', '%_\\']) assert.equal(fold(untouched), untouched);
  // Whole strings fold as their characters do: no context (a final sigma is one sigma), whether they
  // hold only ASCII and emoji or other letters too.
  for (const text of ['ΣΟΦΟΣ ΚΑΙ ΣΟΦΟΣ', 'ORDER 7 🚚 ❤️ 👩‍💻 Done', 'ORDER 7 🚚 ❤️ Straße']) assert.equal(fold(text), [...text].map(fold).join(''), text);
});
