// The /stats panel: the figures and a bar chart of the top senders, drawn as SVG by the page.
import { el, number, shortFormat, term, timeElement, ui } from './dom.ts';
import { state } from './state.ts';

const CHART_BARS = 10;
/** Characters of a sender that fit the label column: `+` and fifteen digits, the longest phone number. */
const MAX_LABEL = 16;
const SVG = 'http://www.w3.org/2000/svg';

export function renderStats(): void {
  const s = state.stats;
  ui.figures.replaceChildren();
  ui.statsPanel.hidden = s === null;
  if (!s) {
    ui.chart.replaceChildren();
    return;
  }
  term(ui.figures, 'Messages', number.format(s.total_messages));
  term(ui.figures, 'Senders', number.format(s.senders_count));
  term(ui.figures, 'First', s.first_message_ts === null ? '–' : timeElement(s.first_message_ts, shortFormat));
  term(ui.figures, 'Last', s.last_message_ts === null ? '–' : timeElement(s.last_message_ts, shortFormat));
  ui.chart.replaceChildren(chart(s.messages_per_sender.slice(0, CHART_BARS)));
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) e.setAttribute(name, String(value));
  return e;
}

/** A horizontal bar chart of the top senders; a bar filters the list by its sender. */
function chart(top: { from: string; count: number }[]): Node {
  if (top.length === 0) return el('p', 'No senders yet.', 'none');
  const rowHeight = 24;
  const label = 136;
  const width = 320;
  const countWidth = 44;
  const max = Math.max(...top.map((t) => t.count));
  const root = svg('svg', { viewBox: `0 0 ${width} ${top.length * rowHeight}`, role: 'list', 'aria-label': 'Messages per sender, top senders' });
  root.classList.add('chart');
  top.forEach((t, i) => {
    const plural = t.count === 1 ? '' : 's';
    const g = svg('g', { role: 'listitem', tabindex: 0, 'aria-label': `${t.from}: ${t.count} message${plural}`, class: 'bar' });
    const y = i * rowHeight;
    const length = ((width - label - countWidth) * t.count) / max;
    const title = svg('title', {});
    title.textContent = `${t.from}: ${number.format(t.count)} message${plural} (show only these)`;
    const name = svg('text', { x: label - 8, y: y + rowHeight / 2, 'text-anchor': 'end', 'dominant-baseline': 'central' });
    // A longer sender (a business-scoped id) keeps its start and end, the middle elided, to fit the column.
    name.textContent = t.from.length > MAX_LABEL ? `${t.from.slice(0, 6)}…${t.from.slice(-(MAX_LABEL - 7))}` : t.from;
    // The whole row takes the pointer, not only the bar and the letters.
    const hit = svg('rect', { y, width, height: rowHeight, class: 'hit' });
    const rect = svg('rect', { class: 'value', x: label, y: y + 4, height: rowHeight - 8, rx: 3, width: Math.max(2, length) });
    const count = svg('text', { x: label + length + 6, y: y + rowHeight / 2, 'dominant-baseline': 'central', class: 'count' });
    count.textContent = number.format(t.count);
    g.append(title, hit, name, rect, count);
    // As if the person had typed the sender into the From box: the form's own change handler applies it.
    const pick = (): void => {
      ui.from.value = t.from;
      ui.from.dispatchEvent(new Event('change'));
    };
    g.addEventListener('click', pick);
    g.addEventListener('keydown', (e) => {
      if (e instanceof KeyboardEvent && (e.key === 'Enter' || e.key === ' ')) {
        e.preventDefault();
        pick();
      }
    });
    root.append(g);
  });
  return root;
}
