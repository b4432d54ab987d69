// The tracker's page: who is online, every file, the console's ping and
// discover, and every protocol line the tracker sends or receives as an
// arrow on the sequence diagram.
"use strict";

const $ = (id) => document.getElementById(id);
const log = new LogPanel($("log"), $("show-trace"));
const sequence = new Sequence($("diagram"), "tracker");

/** The nodes of the settings file: address -> id. */
let nodeNames = new Map();

const refresh = App.refresher(async () => {
  const state = await App.get("/api/state");
  nodeNames = new Map(state.nodes.map((node) => [node.addr, node.id]));
  $("addr").textContent = state.addr;
  $("counts").textContent = `${state.peers.length} peer(s), ${state.files.length} file(s)`;
  const peerRows = state.peers.map((peer) =>
    App.el(
      "tr",
      {},
      App.el("td", {}, peer.id || "-"),
      App.el("td", {}, peer.addr),
      App.el("td", {}, peer.files.join(", ")),
      App.el(
        "td",
        {},
        App.el("button", { type: "button", class: "secondary", onclick: () => consoleCommand("ping", peer.id || peer.addr) }, "Ping"),
        " ",
        App.el("button", { type: "button", class: "secondary", onclick: () => consoleCommand("discover", peer.id || peer.addr) }, "Discover"),
      ),
    ),
  );
  const peerHead = App.el("tr", {}, ...["id", "address", "files announced", ""].map((t) => App.el("th", {}, t)));
  $("peers").replaceChildren(peerHead, ...peerRows);
  const fileRows = state.files.map((file) =>
    App.el("tr", {}, App.el("td", {}, file.name), App.el("td", {}, file.holders.join(", "))),
  );
  const fileHead = App.el("tr", {}, App.el("th", {}, "file"), App.el("th", {}, "holders"));
  $("files").replaceChildren(fileHead, ...fileRows);
});

/** The console's `ping PEER` or `discover PEER`, its answer (or why it
    failed) shown as the console prints it. */
function consoleCommand(command, peer) {
  $("console-peer").value = peer;
  const out = (text) => ($("console-out").textContent = `tracker> ${command} ${peer}\n${text}`);
  return App.act(async () => {
    try {
      out((await App.post(`/api/${command}`, { peer })).text);
    } catch (error) {
      out(`error: ${error.message}`);
      throw error;
    }
    App.say(`${command} ${peer}: done`);
  });
}
$("ping").addEventListener("click", () => consoleCommand("ping", $("console-peer").value.trim()));
$("discover").addEventListener("click", () => consoleCommand("discover", $("console-peer").value.trim()));
$("console-form").addEventListener("submit", (event) => event.preventDefault());

/** A joining peer's connection comes from a passing port; its records
    line (`<name, type, size, date, ip, port> ...`) says which peer it is:
    its arrows so far move to that peer's lifeline. */
function nameJoiningPeer(line) {
  const records = /^<[^>]*, ([^,>]+), (\d+)>/.exec(line.text);
  if (line.dir !== "received" || !records) return;
  const addr = `${records[1]}:${records[2]}`;
  sequence.alias(line.other, nodeNames.get(addr) || addr);
}

$("pause").addEventListener("click", () => {
  sequence.setPaused(!sequence.paused);
  $("pause").textContent = sequence.paused ? "Resume" : "Pause";
  $("waiting").textContent = "";
});
$("clear-diagram").addEventListener("click", () => sequence.clear());

/** A heartbeat: the liveness probe and its answer. Every joined peer
    gets one every half minute, so after a few minutes they would be the
    whole diagram; hidden by default, kept to be shown again. */
const isHeartbeat = (arrow) => arrow.text === "PING" || arrow.text === "PONG";
const showHeartbeats = () => sequence.hide($("hide-heartbeats").checked ? isHeartbeat : null);
$("hide-heartbeats").addEventListener("change", showHeartbeats);
showHeartbeats();
$("clear-log").addEventListener("click", () => log.clear());

async function start() {
  await refresh();
  await App.connect({
    log(line) {
      log.add(line);
      if (line.kind === "trace") {
        sequence.add(line);
        nameJoiningPeer(line);
        if (sequence.paused) $("waiting").textContent = `${sequence.waiting.length} arrow(s) waiting`;
      } else {
        refresh(); // a join, a leave: the tables change
      }
    },
  });
  await refresh();
  await runAutotest(async (step, argument) => {
    switch (step) {
      case "ping":
      case "discover":
        await consoleCommand(step, argument);
        return;
      case "heartbeats": // show or hide, as the switch does
        $("hide-heartbeats").checked = argument !== "show";
        $("hide-heartbeats").dispatchEvent(new Event("change"));
        return;
      default:
        throw new Error(`unknown step ${step}`);
    }
  });
}

start().catch((error) => App.say(error.message, true));
