// Readers for the Dockerfile and the compose files, shared by test/ops/container.test.ts (do they agree with
// `make run`?) and tools/container-check.ts (run the container as docker-compose.yml says). Purpose-built,
// not general: the YAML reader takes the subset these files use, and throws on a line it cannot read.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');
export const readRepoFile = (name: string): string => readFileSync(join(ROOT, name), 'utf8');

export type Instruction = { op: string; args: string };
export type Stage = { from: string; name: string; instructions: Instruction[] };

/** Dockerfile -> ARG defaults before the first FROM, and stages of instructions (continuations joined). */
export function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const [op = '', ...rest] = line.split(/\s+/);
    const instruction = { op: op.toUpperCase(), args: rest.join(' ') };
    if (instruction.op === 'FROM') {
      const [from = '', , name = ''] = rest;
      stages.push({ from, name, instructions: [] });
    } else if (stages.length === 0 && instruction.op === 'ARG') {
      const [k = '', v = ''] = instruction.args.split('=');
      args[k] = v;
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

export type Yaml = string | boolean | null | Yaml[] | { [key: string]: Yaml };

const KEY = /^("[^"]*"|<<|[A-Za-z0-9_.\-/]+):(?:\s+(.*))?$/;

function scalar(v: string): Yaml {
  if (v.startsWith('"') || v.startsWith('[') || v.startsWith('{')) return JSON.parse(v) as Yaml;
  if (v.startsWith("'")) return v.slice(1, -1).replace(/''/g, "'");
  if (v === 'true' || v === 'false') return v === 'true';
  if (v === 'null' || v === '~') return null;
  return v;
}

/**
 * The YAML these files use: block maps and lists (indented or not under their key), `- key: value` items,
 * quoted, plain and JSON-flow scalars, null,
 * and `&name` anchors on a block map merged elsewhere with `<<: *name` (keys written beside it win).
 */
export function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))
    .map((l) => ({ indent: l.length - l.trimStart().length, text: l.trim() }));
  const anchors = new Map<string, Yaml>();

  const list = (i: number, indent: number): [Yaml[], number] => {
    const items: Yaml[] = [];
    while (lines[i]?.indent === indent && lines[i]?.text.startsWith('-')) {
      const rest = (lines[i]?.text ?? '').slice(1).trim();
      if (KEY.test(rest)) {
        // `- key: value` opens a map whose keys sit two columns further in.
        lines[i] = { indent: indent + 2, text: rest };
        const [map, next] = block(i, indent + 2);
        items.push(map);
        i = next;
      } else {
        items.push(scalar(rest));
        i += 1;
      }
    }
    return [items, i];
  };

  const map = (i: number, indent: number): [Yaml, number] => {
    const merged: { [key: string]: Yaml } = {};
    const own: { [key: string]: Yaml } = {};
    while (lines[i]?.indent === indent) {
      const m = KEY.exec(lines[i]?.text ?? '');
      if (!m) throw new Error(`cannot parse line: ${lines[i]?.text}`);
      const key = (m[1] ?? '').replace(/^"|"$/g, '');
      const value = m[2];
      if (key === '<<') {
        const source = anchors.get((value ?? '').replace(/^\*/, ''));
        if (source === undefined || typeof source !== 'object' || Array.isArray(source)) throw new Error(`no map anchor: ${value}`);
        Object.assign(merged, source);
        i += 1;
      } else if (value !== undefined && !value.startsWith('&')) {
        own[key] = scalar(value);
        i += 1;
      } else {
        const following = lines[i + 1];
        const nextIndent = following?.indent ?? 0;
        // A list may also sit at its key's own indent (`key:` then `- item`), as compose tools print it.
        const sameIndentList = nextIndent === indent && following?.text.startsWith('-') === true;
        const [nested, next] = nextIndent > indent ? block(i + 1, nextIndent) : sameIndentList ? list(i + 1, indent) : [null, i + 1];
        if (value !== undefined) anchors.set(value.slice(1), nested);
        own[key] = nested;
        i = next;
      }
    }
    return [{ ...merged, ...own }, i];
  };

  const block = (i: number, indent: number): [Yaml, number] => {
    const first = lines[i];
    if (!first || first.indent < indent) return [null, i];
    return first.text === '-' || first.text.startsWith('- ') ? list(i, indent) : map(i, indent);
  };
  return block(0, 0)[0];
}

/** The node at a path of map keys, or undefined. */
export function at(node: Yaml | undefined, ...path: string[]): Yaml | undefined {
  let cur = node;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

export const list = (node: Yaml | undefined): Yaml[] => (Array.isArray(node) ? node : []);

/** Each of a map's keys with its value as a string; {} for anything else. */
export function stringMap(node: Yaml | undefined): Record<string, string> {
  if (node === null || node === undefined || typeof node !== 'object' || Array.isArray(node)) return {};
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, v === null ? '' : String(v)]));
}
