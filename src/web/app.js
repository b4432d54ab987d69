// What both pages share: talking to the program (GET to read, POST to
// act), the live event stream, the System Log panel, the status line, and
// the test hook.
//
// The token: the program printed this page's address with a secret
// `?token=...`, and it answers the API and the event stream only to
// requests that carry it (other users of the machine do not know it).
// Every request below adds it from the page's own address.
//
// The test hook: a page opened with `?autotest=STEP,STEP,...` runs those
// steps itself, through the very handlers a click runs (it calls the
// buttons' click()), then writes the outcome into <body data-autotest>
// and closes its event stream. A browser started with `--dump-dom` then
// prints the page as it is, for a test to read. Each page defines its own
// steps (see peer.js and tracker.js).
//
// How the browser knows when the steps are done: it prints (or photographs)
// the page once it has loaded, and an image still loading holds that back.
// So the hook keeps one image loading from `/api/hold`, which the program
// never answers while the browser waits, and removes it once its steps
// are done. (`--timeout` only bounds
// the wait: the browser prints the page then, done or not.)
"use strict";

const App = {
  /** The open event stream. */
  events: null,
  /** What the current action is doing, for the test hook to wait on. */
  busy: Promise.resolve(),

  /** Builds an element: App.el("td", {class: "num"}, "42"). */
  el(tag, attrs, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
      else element.setAttribute(name, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) element.append(child);
    }
    return element;
  },

  /** The page's secret, from its address (see the top of this file). */
  token: new URLSearchParams(location.search).get("token") || "",

  /** `path` with the token added to its query. */
  withToken(path, params) {
    const query = new URLSearchParams(params || {});
    query.set("token", App.token);
    return `${path}?${query}`;
  },

  /** Reads a JSON document from the program; `params` go in the query. */
  async get(path, params) {
    const response = await fetch(App.withToken(path, params));
    if (!response.ok) throw new Error(await response.text());
    return response.json();
  },

  /** Asks the program to act: POST with the parameters in the query,
      and `body` (a File) as the request's body. Throws the program's
      message when it refuses. */
  async post(path, params, body) {
    const response = await fetch(App.withToken(path, params), {
      method: "POST",
      body: body === undefined ? null : body,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(text.trim() || `${response.status} ${response.statusText}`);
    return JSON.parse(text);
  },

  /** Says something on the status line at the bottom. */
  say(text, isError) {
    const status = document.getElementById("status");
    status.textContent = text;
    status.className = isError ? "error" : "";
  },

  /** Runs an action started by a button: shows its failure, and keeps
      its promise for the test hook. */
  act(action) {
    App.busy = action().catch((error) => {
      App.say(error.message, true);
      throw error;
    });
    App.busy.catch(() => {});
    return App.busy;
  },

  /** Opens the event stream; `handlers` maps event names to functions of
      the parsed data. Resolves once the backlog has been delivered. */
  connect(handlers) {
    return new Promise((resolve) => {
      const events = new EventSource(App.withToken("/events"));
      App.events = events;
      for (const [name, handle] of Object.entries(handlers)) {
        events.addEventListener(name, (event) => handle(JSON.parse(event.data)));
      }
      events.addEventListener("ready", () => {
        App.say("connected: live");
        resolve();
      });
      events.onerror = () =>
        App.say(
          App.token
            ? "lost the connection to the program; retrying..."
            : "this address has no token: open the page at the address the program printed (it ends in ?token=...)",
          true,
        );
    });
  },

  /** Calls `load` again whenever asked, but never two at once: asks that
      come in while one runs make one more run after it. (No timers: each
      change is an event, so a refresh follows every change at once.) */
  refresher(load) {
    let running = null;
    let again = false;
    const refresh = () => {
      if (running) {
        again = true;
        return running;
      }
      running = load()
        .catch((error) => App.say(error.message, true))
        .finally(() => {
          running = null;
          if (again) {
            again = false;
            refresh();
          }
        });
      return running;
    };
    return refresh;
  },
};

/** The System Log panel: event lines always, protocol lines when the
    "show the protocol trace" box is ticked. */
class LogPanel {
  static MAX_LINES = 1000;

  constructor(box, traceToggle) {
    this.box = box;
    if (traceToggle) {
      const apply = () => box.classList.toggle("hide-trace", !traceToggle.checked);
      traceToggle.addEventListener("change", apply);
      apply();
    }
  }

  add(line) {
    const atBottom = this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 40;
    let text;
    if (line.kind === "trace") {
      const arrow = line.dir === "sent" ? "->" : "<-";
      text = `[${line.node}] ${line.other} ${arrow} ${line.text}`;
    } else {
      text = line.text;
    }
    const row = App.el("div", { class: line.kind }, App.el("span", { class: "time" }, `${line.time} `), text);
    this.box.append(row);
    while (this.box.childElementCount > LogPanel.MAX_LINES) this.box.firstElementChild.remove();
    if (atBottom) this.box.scrollTop = this.box.scrollHeight;
  }

  clear() {
    this.box.replaceChildren();
  }
}

/** The test hook's steps from the address, e.g. ["search:notes.txt", "download:1"]. */
function autotestSteps() {
  const steps = new URLSearchParams(location.search).get("autotest");
  return steps ? steps.split(",") : null;
}

/** While the test hook runs: an image that never finishes loading (see
    the top of this file), made before the page has loaded. */
const autotestHold = (() => {
  if (!autotestSteps()) return null;
  const hold = document.createElement("img");
  hold.alt = "";
  hold.hidden = true;
  hold.src = App.withToken("/api/hold");
  document.body.append(hold);
  return hold;
})();

/** Runs the test hook's steps with `run(step, argument)`, then reports. */
async function runAutotest(run) {
  const steps = autotestSteps();
  if (!steps) return;
  const done = [];
  try {
    for (const step of steps) {
      const colon = step.indexOf(":");
      const [name, argument] = colon < 0 ? [step, ""] : [step.slice(0, colon), step.slice(colon + 1)];
      // Steps every page knows; the others are the page's own.
      if (name === "wait") {
        // nothing: the step only lets the page's stream catch up
      } else if (name === "open" && typeof sequence !== "undefined" && sequence) {
        // Opens the panel of the first arrow whose text starts with the
        // argument, as a click on it does.
        await sequence.openFirst(argument);
      } else if (name === "trace" && document.getElementById("show-trace")) {
        const toggle = document.getElementById("show-trace");
        toggle.checked = argument !== "off";
        toggle.dispatchEvent(new Event("change"));
      } else {
        await run(name, argument);
      }
      done.push(step);
    }
    document.body.dataset.autotest = `done: ${done.join(",")}`;
  } catch (error) {
    document.body.dataset.autotest = `failed after ${done.join(",") || "no step"}: ${error.message}`;
  }
  // The page counts as loaded now: the test browser prints it.
  if (App.events) App.events.close();
  autotestHold.removeAttribute("src");
  autotestHold.remove();
}
