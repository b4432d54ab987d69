// The live sequence diagram: one lifeline per node, one arrow per
// protocol line, with its text, the newest at the bottom, like the
// diagrams in the README.
//
// Each protocol line comes from one node's trace: "sent to X" or
// "received from X". Between the arrows may come bands across the whole
// diagram (the demo's acts and scenes, with their narration). The diagram
// is drawn as one SVG, from scratch at each change: simple, and quick
// enough for the few hundred rows kept.
"use strict";

class Sequence {
  static MAX_ROWS = 400;  // arrows and bands kept
  static COLUMN = 300;   // pixels between lifelines
  static LEFT = 110;     // room for the time on the left
  static HEAD = 56;      // the row of node names, kept in view
  static ROW = 38;       // one arrow
  static LINE = 28;      // one line of text in a band

  /** `box`: the element to draw in; `first`: the node drawn leftmost, or
      the nodes whose lifelines are always drawn, from the left. */
  constructor(box, first) {
    this.box = box;
    this.first = Array.isArray(first) ? first : [first];
    /** The rows, oldest first: arrows ({from, to, text, time, dir}) and
        bands ({band: kind, title, lines}). */
    this.arrows = [];
    this.waiting = [];
    this.paused = false;
    /** Other names of nodes: a peer's connection is first known by its
        passing address, until its records say who it is. */
    this.aliases = new Map();
    this.clear();
  }

  /** From now on, and for the arrows drawn so far, `name` is `node`. */
  alias(name, node) {
    if (name === node) return;
    this.aliases.set(name, node);
    for (const arrow of this.arrows) {
      if (arrow.from === name) arrow.from = node;
      if (arrow.to === name) arrow.to = node;
    }
    this.lifelines = this.lifelines.filter((lifeline) => lifeline !== name);
    if (!this.lifelines.includes(node)) this.lifelines.push(node);
    this.draw();
  }

  /** One traced line: {node, other, dir, text, time}. */
  add(line) {
    if (this.paused) {
      this.waiting.push(line);
      return;
    }
    this.push(line);
    this.draw();
  }

  /** A band across the diagram: `kind` ("act", "scene" or "note", its
      style) and a bold `title` (or none), then lines added by note(). */
  band(kind, title) {
    this.add({ band: kind, title, lines: [] });
  }

  /** A line of text on the diagram: in the band just above if no arrow
      came since, else in a band of its own. */
  note(text) {
    const rows = this.paused ? this.waiting : this.arrows;
    const last = rows[rows.length - 1];
    if (last && last.band) last.lines.push(text);
    else rows.push({ band: "note", title: "", lines: [text] });
    if (!this.paused) this.draw();
  }

  push(line) {
    if (line.band) {
      this.arrows.push(line);
    } else {
      const other = this.aliases.get(line.other) || line.other;
      const [from, to] = line.dir === "sent" ? [line.node, other] : [other, line.node];
      for (const name of [from, to]) {
        if (!this.lifelines.includes(name)) this.lifelines.push(name);
      }
      this.arrows.push({ from, to, text: line.text, time: line.time, dir: line.dir });
    }
    if (this.arrows.length > Sequence.MAX_ROWS) this.arrows.shift();
  }

  /** Pause: arrows wait, to be drawn at resume. */
  setPaused(paused) {
    this.paused = paused;
    if (!paused) {
      for (const line of this.waiting) this.push(line);
      this.waiting = [];
      this.draw();
    }
  }

  clear() {
    this.lifelines = [...this.first];
    this.arrows = [];
    this.waiting = [];
    this.draw();
  }

  /** How many arrows are drawn. */
  get count() {
    return this.arrows.filter((row) => !row.band).length;
  }

  /** How tall a row is drawn. */
  static height(row) {
    if (!row.band) return Sequence.ROW;
    const lines = (row.title ? 1 : 0) + row.lines.length;
    return lines * Sequence.LINE + 20;
  }

  draw() {
    const { COLUMN, LEFT, HEAD, ROW, LINE } = Sequence;
    const x = (name) => LEFT + COLUMN / 2 + this.lifelines.indexOf(name) * COLUMN;
    const width = LEFT + this.lifelines.length * COLUMN;
    const height = this.arrows.reduce((sum, row) => sum + Sequence.height(row), 0) + ROW;
    const heads = [`<div class="heads"><svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${HEAD}">`];
    const parts = [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="sequence diagram">`,
      `<defs>`,
      `<marker id="tip-sent" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>`,
      `<marker id="tip-received" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>`,
      `</defs>`,
    ];
    for (const name of this.lifelines) {
      const cx = x(name);
      parts.push(`<line class="lifeline" x1="${cx}" y1="0" x2="${cx}" y2="${height}"/>`);
      heads.push(
        `<g class="head"><rect x="${cx - COLUMN / 2 + 10}" y="8" width="${COLUMN - 20}" height="40" rx="6"/>` +
          `<text x="${cx}" y="34" text-anchor="middle">${escapeXml(name)}</text></g>`,
      );
    }
    heads.push(`</svg></div>`);
    let bottom = 0;
    for (const arrow of this.arrows) {
      const top = bottom;
      bottom += Sequence.height(arrow);
      if (arrow.band) {
        parts.push(`<g class="band ${arrow.band}"><rect x="4" y="${top + 6}" width="${width - 8}" height="${bottom - top - 10}" rx="6"/>`);
        let y = top + 6 + LINE - 6;
        if (arrow.title) {
          parts.push(`<text class="title" x="16" y="${y}">${escapeXml(arrow.title)}</text>`);
          y += LINE;
        }
        for (const line of arrow.lines) {
          parts.push(`<text x="16" y="${y}">${escapeXml(line)}</text>`);
          y += LINE;
        }
        parts.push(`</g>`);
        continue;
      }
      const y = bottom;
      const [x1, x2] = [x(arrow.from), x(arrow.to)];
      const span = Math.max(Math.abs(x2 - x1), COLUMN) - 16;
      const room = Math.floor(span / 9.6);
      const text = arrow.text.length > room ? `${arrow.text.slice(0, room - 1)}…` : arrow.text;
      parts.push(
        `<g class="arrow ${arrow.dir}"><title>${escapeXml(`${arrow.from} -> ${arrow.to}: ${arrow.text}`)}</title>` +
          `<text class="time" x="8" y="${y}">${escapeXml(arrow.time)}</text>` +
          `<line x1="${x1}" y1="${y}" x2="${x2}" y2="${y}" marker-end="url(#tip-${arrow.dir})"/>` +
          `<text class="message" x="${(x1 + x2) / 2}" y="${y - 7}" text-anchor="middle">${escapeXml(text)}</text></g>`,
      );
    }
    parts.push(`</svg>`);
    const atBottom = this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 60;
    this.box.innerHTML = heads.join("") + parts.join("");
    this.box.dataset.arrows = String(this.count);
    if (atBottom) this.box.scrollTop = this.box.scrollHeight;
  }
}

function escapeXml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
