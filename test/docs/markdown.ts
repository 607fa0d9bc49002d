// Fenced blocks of the docs, for the examples runner and the tests that check what the docs show.
import assert from 'node:assert/strict';

export type Block = {
  file: string;
  line: number;
  /** The `## ` heading the block is under ('' before the first). */
  section: string;
  language: string;
  code: string;
  /** The reason of `<!-- not run: reason -->` on the line above, or null. */
  skip: string | null;
};

/** The fenced blocks of a Markdown text, with the `<!-- not run: ... -->` reason of the line above. */
export function blocksOf(file: string, text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (.+)$/.exec(lines[i] ?? '');
    if (heading) section = heading[1] ?? '';
    const open = /^```(\w*)\s*$/.exec(lines[i] ?? '');
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    assert.ok(end !== -1, `${file}:${i + 1}: a fence that is never closed`);
    const above = lines[i - 1] ?? '';
    const marker = /^<!-- not run:(.*)-->\s*$/.exec(above);
    if (marker) assert.ok((marker[1] ?? '').trim() !== '', `${file}:${i}: "not run" needs a reason`);
    else assert.doesNotMatch(above, /not run/, `${file}:${i}: write the marker as <!-- not run: reason -->`);
    blocks.push({ file, line: i + 1, section, language: open[1] ?? '', code: lines.slice(i + 1, end).join('\n'), skip: marker ? (marker[1] ?? '').trim() : null });
    i = end;
  }
  return blocks;
}

