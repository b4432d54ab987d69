// The live sequence diagram: one lifeline per node, one arrow per
// protocol line, with its text, the newest at the bottom, like the
// diagrams in the README.
//
// Each protocol line comes from one node's trace: "sent to X" or
// "received from X". The diagram is drawn as one SVG, from scratch at
// each change: simple, and quick enough for the few hundred arrows kept.
"use strict";

class Sequence {
  static MAX_ARROWS = 400;
  static COLUMN = 300;   // pixels between lifelines
  static LEFT = 110;     // room for the time on the left
  static HEAD = 56;      // the row of node names, kept in view
  static ROW = 38;       // one arrow

  /** `box`: the element to draw in; `first`: the node drawn leftmost. */
  constructor(box, first) {
    this.box = box;
    this.first = first;
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

  push(line) {
    const other = this.aliases.get(line.other) || line.other;
    const [from, to] = line.dir === "sent" ? [line.node, other] : [other, line.node];
    for (const name of [from, to]) {
      if (!this.lifelines.includes(name)) this.lifelines.push(name);
    }
    this.arrows.push({ from, to, text: line.text, time: line.time, dir: line.dir });
    if (this.arrows.length > Sequence.MAX_ARROWS) this.arrows.shift();
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
    this.lifelines = [this.first];
    this.arrows = [];
    this.waiting = [];
    this.draw();
  }

  /** How many arrows are drawn. */
  get count() {
    return this.arrows.length;
  }

  draw() {
    const { COLUMN, LEFT, HEAD, ROW } = Sequence;
    const x = (name) => LEFT + COLUMN / 2 + this.lifelines.indexOf(name) * COLUMN;
    const width = LEFT + this.lifelines.length * COLUMN;
    const height = (this.arrows.length + 1) * ROW;
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
    this.arrows.forEach((arrow, index) => {
      const y = (index + 1) * ROW;
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
    });
    parts.push(`</svg>`);
    const atBottom = this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 60;
    this.box.innerHTML = heads.join("") + parts.join("");
    this.box.dataset.arrows = String(this.arrows.length);
    if (atBottom) this.box.scrollTop = this.box.scrollHeight;
  }
}

function escapeXml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
