// The demo's page: a tracker and three peers on one sequence diagram.
// Every protocol line of every node is one arrow, from its sender to its
// receiver; every act and scene is a band across the diagram, with its
// narration; the "Next scene" button plays the next scene (the demo
// waits for it, as `--step` waits for Enter).
"use strict";

const $ = (id) => document.getElementById(id);
const log = new LogPanel($("log"), $("show-trace"));
/** Made once the page knows the nodes (from /api/state). */
let sequence = null;

/** Where the demo is, as its events say: the scene that waits for the
    button ({number, title} or null), the scene playing, and the end. */
const demo = { waiting: null, playing: 0, ended: null };

/** An act whose heading came, but whose first scene has not: the demo
    names the next act right after the last scene of the one before, and
    the label above the scene must keep naming that scene's act until
    the next scene starts. */
let comingAct = null;

/** Who waits for the next change of `demo` (the test hook). Promises,
    not timers: each waiter wakes at the very change it waits for. */
let waiters = [];
function changed() {
  showWhere();
  const now = waiters;
  waiters = [];
  for (const resolve of now) resolve();
}
const nextChange = () => new Promise((resolve) => waiters.push(resolve));

/** The button and the badge say where the demo is. */
function showWhere() {
  const button = $("next");
  if (demo.ended) {
    button.disabled = true;
    button.textContent = "The demo is over";
    $("where").textContent = demo.ended.ok ? "over" : "stopped";
    $("where").className = demo.ended.ok ? "badge good" : "badge bad";
  } else if (demo.waiting) {
    button.disabled = false;
    const act = comingAct ? ` (starts ${comingAct})` : "";
    button.textContent = `Next scene: ${demo.waiting.number}. ${demo.waiting.title}${act}`;
    $("where").textContent = demo.playing ? `scene ${demo.playing} is over` : "ready";
  } else {
    button.disabled = true;
    button.textContent = "Next scene";
    $("where").textContent = demo.playing ? `scene ${demo.playing} playing…` : "starting…";
  }
}

/** "Next scene": asks the demo to play the scene that waits. */
function next() {
  return App.act(async () => {
    demo.waiting = null;
    showWhere();
    const answer = await App.post("/api/next", {});
    if (!demo.ended) App.say(`scene ${answer.scene}: playing`);
  });
}
$("next").addEventListener("click", next);

/** One line of narration: under the scene's title, and on the diagram. */
function narrate(text) {
  $("narration").append(App.el("p", {}, text));
  sequence.note(text);
}

const handlers = {
  act(act) {
    comingAct = act.title;
    sequence.band("act", act.title);
  },
  scene(scene) {
    if (comingAct) {
      $("act").textContent = comingAct;
      comingAct = null;
    }
    $("scene-title").textContent = `${scene.number}. ${scene.title}`;
    $("narration").replaceChildren();
    // Once the demo is under way, the intro folds away (a click opens it).
    $("intro").open = false;
    sequence.band("scene", `${scene.number}. ${scene.title}`);
  },
  narration(line) {
    narrate(line.text);
  },
  log(line) {
    log.add(line);
    if (line.kind === "trace") sequence.add(line);
  },
  /** Arrows drawn from a passing port were sent by this node. */
  revealed(known) {
    sequence.alias(known.address, known.node);
  },
  waiting(scene) {
    demo.waiting = scene;
    App.say(`ready: press "Next scene" for scene ${scene.number}`);
    changed();
  },
  playing(scene) {
    demo.waiting = null;
    demo.playing = scene.number;
    changed();
  },
  ended(end) {
    demo.ended = end;
    demo.waiting = null;
    sequence.band(end.ok ? "act" : "failed", end.text);
    App.say(end.text, !end.ok);
    // The program stops now: no reconnecting.
    if (App.events) App.events.close();
    changed();
  },
};

/** The test hook's `settle`: waits until the scene playing is over (the
    demo waits for the button again, or is over). */
async function settle() {
  while (!demo.waiting && !demo.ended) await nextChange();
}

/** The test hook's `next:N` (or `next:all`): presses "Next scene" N
    times (or until the demo is over), each time once the demo waits. */
async function pressNext(count) {
  let left = count === "all" ? Infinity : Number(count);
  while (left > 0 && !demo.ended) {
    if (!demo.waiting) {
      await nextChange();
      continue;
    }
    $("next").click();
    await App.busy;
    left -= 1;
  }
}

async function start() {
  const state = await App.get("/api/state");
  // The demo's bad holders are no node of the settings file: their
  // connections, named by address only, share the lifeline of "a fourth
  // peer", as the narration calls them. A node of the settings file seen
  // from a passing port is drawn there too, until its records say who it
  // is (a "revealed" event).
  sequence = new Sequence($("diagram"), state.nodes, { unknown: "a fourth peer" });
  await App.connect(handlers);
  if (!demo.ended) {
    // The backlog may end with a scene that was released since.
    const now = await App.get("/api/state");
    demo.waiting = now.waiting;
    demo.playing = now.playing;
    changed();
  } else {
    App.say(demo.ended.text, !demo.ended.ok);
  }
  await runAutotest(async (step, argument) => {
    switch (step) {
      case "next":
        await pressNext(argument);
        return;
      case "settle":
        await settle();
        return;
      default:
        throw new Error(`unknown step ${step}`);
    }
  });
}

start().catch((error) => App.say(error.message, true));
