// The live sequence diagram: one lifeline per node, one arrow per
// protocol line, with its text, the newest at the bottom, like the
// diagrams in the README.
//
// Each protocol line comes from one node's trace: "sent to X" or
// "received from X". Between the arrows may come bands across the whole
// diagram (the demo's acts and scenes, with their narration). The diagram
// is drawn as one SVG, from scratch at each change: simple, and quick
// enough for the few hundred rows kept.
//
// Clicking an arrow (or its entry in the list view under the diagram,
// which a keyboard and a screen reader reach) opens the line's panel: its
// whole text, the rules it keeps, and the source of the function of ours
// that sent or handled it, with the line marked (`GET /api/code`).
"use strict";

class Sequence {
  static MAX_ROWS = 400;  // arrows and bands kept
  static COLUMN = 300;   // pixels between lifelines
  static LEFT = 110;     // room for the time on the left
  static HEAD = 56;      // the row of node names, kept in view
  static ROW = 38;       // one arrow
  static LINE = 28;      // one line of text in a band

  /** `box`: the element to draw in; `first`: the node drawn leftmost, or
      the nodes whose lifelines are always drawn, from the left.
      `options.unknown`: the lifeline of every other end named only by
      an ip:port (the demo's: a fourth peer, outside the settings file),
      with the address in the arrow's label; without it, each such
      address has a lifeline of its own. */
  constructor(box, first, options) {
    this.box = box;
    this.first = Array.isArray(first) ? first : [first];
    this.unknown = (options && options.unknown) || null;
    /** The rows, oldest first: arrows ({from, to, text, time, dir}) and
        bands ({band: kind, title, lines}). */
    this.arrows = [];
    this.waiting = [];
    this.paused = false;
    /** Other names of nodes: a peer's connection is first known by its
        passing address, until its records say who it is. */
    this.aliases = new Map();
    /** Which arrows are not drawn (the tracker page's "hide heartbeats"
        switch): a test of an arrow, or null. They are kept, so that
        turning the switch off draws them again. */
    this.hidden = null;
    /** Who waits for the next arrow (openFirst). */
    this.arrived = [];
    this.panel = new LinePanel(box);
    box.addEventListener("click", (event) => {
      const arrow = event.target.closest("g.arrow");
      if (arrow) this.open(Number(arrow.dataset.index));
    });
    box.addEventListener("keydown", (event) => {
      const arrow = event.target.closest("g.arrow");
      if (arrow && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        this.open(Number(arrow.dataset.index));
      }
    });
    this.clear();
  }

  /** Opens the panel of the row at `index` (an arrow). The promise is
      kept in `opening`, for the test hook. */
  open(index) {
    const arrow = this.arrows[index];
    this.opening = arrow && !arrow.band ? this.panel.show(arrow) : Promise.resolve();
    this.opening.catch((error) => App.say(error.message, true));
    return this.opening;
  }

  /** Opens the panel of the first arrow drawn whose text starts with
      `text`, once there is one (the test hook's `open:TEXT`). */
  async openFirst(text) {
    const find = () => this.shown().find(([, row]) => !row.band && row.text.startsWith(text))?.[0] ?? -1;
    while (find() < 0) await new Promise((resolve) => this.arrived.push(resolve));
    // A click on the drawn arrow, as a user's: through the same handler.
    this.draw();
    const arrow = this.box.querySelector(`g.arrow[data-index="${find()}"]`);
    if (!arrow) throw new Error(`the arrow ${text} is not drawn`);
    this.opening = null;
    arrow.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    if (!this.opening) throw new Error(`a click on the arrow ${text} opened nothing`);
    return this.opening;
  }

  /** From now on, and for the arrows drawn so far, `name` is `node`. */
  alias(name, node) {
    if (name === node) return;
    this.aliases.set(name, node);
    for (const arrow of this.arrows) {
      // An arrow drawn on the "incoming" lifeline, from that connection.
      const incoming = !arrow.band && arrow.via && arrow.other === name;
      if (arrow.from === name || (incoming && arrow.dir === "received")) arrow.from = node;
      if (arrow.to === name || (incoming && arrow.dir === "sent")) arrow.to = node;
      if (incoming) arrow.via = "";
    }
    // A lifeline no arrow uses any more goes (unless it is always drawn).
    const used = new Set([...this.first, node]);
    for (const arrow of this.arrows) {
      if (!arrow.band) used.add(arrow.from).add(arrow.to);
    }
    this.lifelines = this.lifelines.filter((lifeline) => lifeline !== name && used.has(lifeline));
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
      const [other, via] = this.lifelineOf(this.aliases.get(line.other) || line.other);
      const [from, to] = line.dir === "sent" ? [line.node, other] : [other, line.node];
      for (const name of [from, to]) {
        if (!this.lifelines.includes(name)) this.lifelines.push(name);
      }
      this.arrows.push({
        from, to, text: line.text, time: line.time, dir: line.dir, via,
        node: line.node, other: line.other, code: line.code || null,
      });
    }
    if (this.arrows.length > Sequence.MAX_ROWS) this.arrows.shift();
    const waiting = this.arrived;
    this.arrived = [];
    for (const resolve of waiting) resolve();
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

  /** Hides the arrows that `test` holds true of (null: none), and draws
      again. */
  hide(test) {
    this.hidden = test;
    this.draw();
  }

  /** The rows drawn, with their index in `arrows`. */
  shown() {
    return [...this.arrows.entries()].filter(([, row]) => row.band || !this.hidden?.(row));
  }

  /** How many arrows are drawn. */
  get count() {
    return this.shown().filter(([, row]) => !row.band).length;
  }

  /** `text` cut to `room` characters. The middle goes, not the end: the
      end of a line is often what tells it from its neighbours (the
      range of a ranged DOWNLOAD, the size of a file). The whole text is
      the arrow's title, shown on hover. */
  static fit(text, room) {
    if (text.length <= room) return text;
    const head = Math.max(1, Math.floor((room - 1) / 3));
    const tail = Math.max(1, room - 1 - head);
    return `${text.slice(0, head)}…${text.slice(text.length - tail)}`;
  }

  /** The lifeline of the other end `name`, and what the arrow's label
      adds to tell its connection from the others there (or ""). A
      connection that came from a passing port, which the node could not
      name by a settings id ("incoming 127.0.0.1:40001"), goes on the one
      lifeline "incoming", with its port in the label (its whole address
      when it is not this machine's): a lifeline per connection would
      make the diagram grow sideways with every download. With the
      `unknown` option, an other end named by its address alone goes on
      that one lifeline the same way. */
  lifelineOf(name) {
    const incoming = /^incoming (.+):(\d+)$/.exec(name);
    if (incoming) return ["incoming", Sequence.short(incoming[1], incoming[2])];
    const address = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(name);
    if (address && this.unknown) return [this.unknown, Sequence.short(address[1], address[2])];
    return [name, ""];
  }

  /** An address as a label shows it: the port alone on this machine. */
  static short(ip, port) {
    return ip.startsWith("127.") ? `:${port}` : `${ip}:${port}`;
  }

  /** An arrow's label: its text, after the port of its connection. */
  static label(arrow) {
    return arrow.via ? `[${arrow.via}] ${arrow.text}` : arrow.text;
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
    const rows = this.shown();
    const height = rows.reduce((sum, [, row]) => sum + Sequence.height(row), 0) + ROW;
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
    for (const [index, arrow] of rows) {
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
      const text = Sequence.fit(Sequence.label(arrow), room);
      parts.push(
        `<g class="arrow ${arrow.dir}" data-index="${index}" tabindex="0" role="button"><title>${escapeXml(`${arrow.from} -> ${arrow.to}: ${Sequence.label(arrow)} (click: its rule and its code)`)}</title>` +
          `<rect class="hit" x="${Math.min(x1, x2)}" y="${y - 30}" width="${Math.abs(x2 - x1)}" height="${ROW - 4}"/>` +
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
    this.panel.list(rows, (index) => this.open(index));
  }
}

/** The panel of one line, and the list view of every line, under a
    diagram. */
class LinePanel {
  constructor(box) {
    this.items = App.el("ol", { class: "line-items" });
    this.listView = App.el(
      "details",
      { class: "line-list" },
      App.el("summary", {}, "The same lines as a list (each opens its rule and its code)"),
      this.items,
    );
    this.body = App.el("div", { class: "line-body" });
    this.closeButton = App.el("button", { type: "button", class: "secondary", onclick: () => this.hide() }, "Close");
    this.element = App.el(
      "section",
      { class: "line-panel", role: "region", "aria-label": "the line, its rule and its code", "aria-live": "polite", tabindex: "-1" },
      this.closeButton,
      this.body,
    );
    this.element.hidden = true;
    box.after(this.listView, this.element);
  }

  /** Fills the list view with the arrows drawn (`rows`: [index, row]);
      `open(index)` opens one. */
  list(rows, open) {
    if (!this.listView.open) {
      this.stale = true;
      this.listView.ontoggle = () => this.stale && this.list(rows, open);
      return;
    }
    this.stale = false;
    const items = [];
    for (const [index, row] of rows) {
      if (row.band) continue;
      const words = `${row.time} ${row.from} -> ${row.to}: ${Sequence.label(row)}`;
      items.push(App.el("li", {}, App.el("button", { type: "button", class: "link", onclick: () => open(index) }, words)));
    }
    this.items.replaceChildren(...items);
  }

  hide() {
    this.element.hidden = true;
  }

  /** Shows `arrow`'s panel: asks the program for its rules and code. */
  async show(arrow) {
    // The place of our code that sent the line (or read it): the demo
    // shows a line where it arrived, with the code that sent it.
    const params = { text: arrow.text, node: arrow.node, other: arrow.other, dir: arrow.dir };
    if (arrow.code) {
      params.file = arrow.code.file;
      params.line = String(arrow.code.line);
      params.dir = arrow.code.dir;
    }
    const response = await fetch(App.withToken("/api/code", params));
    if (!response.ok) throw new Error(await response.text());
    const answer = await response.json();
    this.body.replaceChildren(...LinePanel.parts(arrow, answer));
    this.element.hidden = false;
    this.element.dataset.shown = arrow.text;
    this.element.focus();
  }

  /** The panel's parts: the line, its rules, its code. */
  static parts(arrow, answer) {
    const parts = [App.el("h3", {}, `${arrow.from} -> ${arrow.to}${arrow.via ? ` (the connection from ${arrow.other})` : ""}`), App.el("pre", { class: "line-text" }, arrow.text)];
    parts.push(App.el("h4", {}, "The rules it keeps"));
    if (answer.rules.length === 0) {
      parts.push(App.el("p", {}, "No rule of the protocol's list is about this line."));
    } else {
      const rules = answer.rules.map((rule) =>
        App.el(
          "li",
          {},
          App.el("code", { class: "rule-name" }, rule.name),
          ` (${rule.side} stage ${rule.stage}${rule.extension ? ", extension" : ""}): ${rule.words}`,
        ),
      );
      parts.push(App.el("ul", { class: "rules" }, ...rules));
    }
    const code = answer.code;
    if (!code) {
      parts.push(App.el("p", {}, "Where our code sent or read this line is not known (a line of the demo's narration, or of a program that is not ours)."));
      return parts;
    }
    const verb = (arrow.code || arrow).dir === "sent" ? "Sent by" : "Handled by";
    parts.push(App.el("h4", {}, `${verb} ${code.function} (${code.file}:${code.line})`));
    if (answer.why.length > 0) {
      parts.push(App.el("p", { class: "why" }, "Why this ERROR: was sent: the lines that build it, and what they say, are marked with \u2190 why."));
    }
    parts.push(LinePanel.source(code, answer.why));
    if (answer.words) {
      const words = answer.words;
      parts.push(App.el("h4", {}, `The words of this ERROR: are written by ${words.function} (${words.file}:${words.line})`));
      parts.push(LinePanel.source(words, []));
    }
    return parts;
  }

  /** A function's source, numbered, its line (and the lines of `why`)
      marked. */
  static source(code, why) {
    const lines = code.lines.map((text, i) => {
      const number = code.first + i;
      const marks = [number === code.line ? "marked" : "", why.includes(number) ? "why" : ""].join(" ").trim();
      const note = number === code.line ? "   \u2190 this line" : why.includes(number) ? "   \u2190 why" : "";
      return App.el("span", { class: `source-line ${marks}`.trim() }, `${String(number).padStart(4)}  ${text}${note}\n`);
    });
    return App.el("pre", { class: "source" }, ...lines);
  }
}

function escapeXml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
